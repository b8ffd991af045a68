//! Pages and mail bodies from templates, in Polish and English. The template environment escapes
//! every value in `.html` templates; texts come from `texts/<lang>.json` so wording lives in one place.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use http::StatusCode;
use lambda_http::{Body, Response};
use minijinja::Environment;
use minijinja::value::{Enumerator, Object};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use zgoda_domain::controller::ControllerProfile;
use zgoda_domain::lang::Lang;
use zgoda_domain::token::LinkAction;

use crate::error::ApiError;

/// The DPO's console (`/console`): a static page, its script and its stylesheet.
pub const CONSOLE_PAGE: &str = include_str!("../static/console.html");
pub const CONSOLE_SCRIPT: &str = include_str!("../static/console.js");
pub const CONSOLE_STYLE: &str = include_str!("../static/console.css");

/// The privacy page's proof of work, served as `/v1/privacy/script.js`.
pub const PRIVACY_SCRIPT: &str = include_str!("../static/privacy.js");

/// Every page's and mail's template, by name.
const SOURCES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../templates/layout.html")),
    ("thanks.html", include_str!("../templates/thanks.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("mail/footer.txt", include_str!("../templates/mail/footer.txt")),
    ("mail/footer.html", include_str!("../templates/mail/footer.html")),
    ("mail/confirm_request.txt", include_str!("../templates/mail/confirm_request.txt")),
    ("mail/confirm_request.html", include_str!("../templates/mail/confirm_request.html")),
    ("mail/owner_notice.txt", include_str!("../templates/mail/owner_notice.txt")),
    ("mail/owner_notice.html", include_str!("../templates/mail/owner_notice.html")),
    ("mail/action_link.txt", include_str!("../templates/mail/action_link.txt")),
    ("mail/action_link.html", include_str!("../templates/mail/action_link.html")),
    ("mail/no_data_held.txt", include_str!("../templates/mail/no_data_held.txt")),
    ("mail/incident.txt", include_str!("../templates/mail/incident.txt")),
    ("mail/incident.html", include_str!("../templates/mail/incident.html")),
    ("mail/address_changed.txt", include_str!("../templates/mail/address_changed.txt")),
    ("mail/address_changed.html", include_str!("../templates/mail/address_changed.html")),
    ("mail/no_data_held.html", include_str!("../templates/mail/no_data_held.html")),
    ("mail/privacy_links.txt", include_str!("../templates/mail/privacy_links.txt")),
    ("mail/privacy_links.html", include_str!("../templates/mail/privacy_links.html")),
    ("mail/privacy_request.txt", include_str!("../templates/mail/privacy_request.txt")),
    ("mail/privacy_request.html", include_str!("../templates/mail/privacy_request.html")),
    ("link.html", include_str!("../templates/link.html")),
    ("choices.html", include_str!("../templates/choices.html")),
    ("rectify.html", include_str!("../templates/rectify.html")),
    ("access.html", include_str!("../templates/access.html")),
    ("link_done.html", include_str!("../templates/link_done.html")),
    ("report.html", include_str!("../templates/report.html")),
    ("report_done.html", include_str!("../templates/report_done.html")),
    ("answer.html", include_str!("../templates/answer.html")),
    ("link_error.html", include_str!("../templates/link_error.html")),
    ("privacy.html", include_str!("../templates/privacy.html")),
    ("notice.html", include_str!("../templates/notice.html")),
    ("mail/breach_notice.txt", include_str!("../templates/mail/breach_notice.txt")),
    ("mail/breach_notice.html", include_str!("../templates/mail/breach_notice.html")),
    ("mail/deadline_reminder.txt", include_str!("../templates/mail/deadline_reminder.txt")),
    ("mail/deadline_reminder.html", include_str!("../templates/mail/deadline_reminder.html")),
];

/// Each template is compiled the first time it is rendered (the loader's answer is kept), not all
/// of them at the first render: a function renders a few of the 37, and compiling them all was a
/// millisecond of every cold start (the cold-start benchmark). `every_template_compiles` keeps a
/// broken one from waiting for its first reader.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_loader(|name| Ok(SOURCES.iter().find(|(known, _)| *known == name).map(|(_, source)| (*source).to_owned())));
    env
});

/// One language's texts. The file's top-level sections are found the first time the language is
/// used, and each is parsed when it is first read, as JSON and as a template value: a page reads
/// three or four of the 47 sections, and parsing and converting the whole file was about 0.2 ms
/// of a first render (the cold-start benchmark's links).
struct Texts {
    sections: HashMap<&'static str, Section>,
}

struct Section {
    raw: &'static RawValue,
    json: OnceLock<Value>,
    template: OnceLock<minijinja::Value>,
}

impl Texts {
    fn index(file: &'static str) -> Self {
        let raw: HashMap<&'static str, &'static RawValue> = serde_json::from_str(file).expect("texts parse");
        Self {
            sections: raw
                .into_iter()
                .map(|(name, raw)| (name, Section { raw, json: OnceLock::new(), template: OnceLock::new() }))
                .collect(),
        }
    }

    fn json(&self, name: &str) -> &Value {
        static MISSING: Value = Value::Null;
        self.sections
            .get(name)
            .map_or(&MISSING, |s| s.json.get_or_init(|| serde_json::from_str(s.raw.get()).expect("a parsed section parses")))
    }

    fn template(&self, name: &str) -> Option<minijinja::Value> {
        let section = self.sections.get(name)?;
        Some(section.template.get_or_init(|| minijinja::Value::from_serialize(self.json(name))).clone())
    }
}

static PL: LazyLock<Texts> = LazyLock::new(|| Texts::index(include_str!("../texts/pl.json")));
static EN: LazyLock<Texts> = LazyLock::new(|| Texts::index(include_str!("../texts/en.json")));

fn texts_of(lang: Lang) -> &'static Texts {
    match lang {
        Lang::Pl => &PL,
        Lang::En => &EN,
    }
}

/// The texts as templates see them (`t.<section>.<key>`): each section converted on first read.
#[derive(Debug)]
struct TemplateTexts(Lang);

impl Object for TemplateTexts {
    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        texts_of(self.0).template(key.as_str()?)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(texts_of(self.0).sections.keys().map(|name| minijinja::Value::from(*name)).collect())
    }
}

/// One top-level section of a language's texts (`Null` if there is none by that name).
pub fn texts(lang: Lang, section: &str) -> &'static Value {
    texts_of(lang).json(section)
}

/// One text, by a dotted path (`link.erase.title`), with `{name}` placeholders filled.
pub fn text(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let mut path = key.split('.');
    let section = texts(lang, path.next().unwrap_or_default());
    let value = path.fold(section, |v, k| &v[k]);
    let mut s = value.as_str().unwrap_or(key).to_owned();
    for (name, value) in args {
        s = s.replace(&format!("{{{name}}}"), value);
    }
    s
}

/// Renders a template with the language's texts available as `t` and the controller as
/// `controller`: every page's and mail's footer names who holds the data (Art. 12(1), 13(1)(a)).
/// Only a page that cannot know it (an error before any configuration is read) passes `None`.
pub fn render(name: &str, lang: Lang, controller: Option<&ControllerProfile>, ctx: Value) -> String {
    let ctx = minijinja::context! {
        t => minijinja::Value::from_object(TemplateTexts(lang)),
        controller => controller.map(minijinja::Value::from_serialize),
        ..minijinja::Value::from_serialize(&ctx)
    };
    TEMPLATES.get_template(name).and_then(|t| t.render(ctx)).unwrap_or_else(|e| panic!("template {name} renders: {e}"))
}

/// How many distinct link pages are kept rendered (see [`link_page`]).
const LINK_PAGES_KEPT: usize = 256;

/// What a link page shows: its language, action and purpose, and whose page it is (one controller
/// per deployment, but one process may serve several, as the tests do).
type LinkPageKey = (Lang, LinkAction, String, ControllerProfile);

/// Link pages already rendered, by what they show.
static LINK_PAGES: LazyLock<Mutex<HashMap<LinkPageKey, String>>> = LazyLock::new(Default::default);

/// The page a signed link opens on: what the button will do, in `lang`. It shows the language, the
/// action and the purpose, never the person, so each is rendered once per warm container and then
/// served from memory: the clicks of one mailing land on a handful of pages, and rendering was most
/// of such a click's CPU (perf). Only verified tokens reach here, so the purposes are those zgoda
/// issued links for; past [`LINK_PAGES_KEPT`] a page is rendered each time instead.
pub fn link_page(lang: Lang, action: LinkAction, purpose: &str, controller: &ControllerProfile) -> String {
    let key = (lang, action, purpose.to_owned(), controller.clone());
    if let Some(page) = LINK_PAGES.lock().expect("not poisoned").get(&key) {
        return page.clone();
    }
    let action_name = action.as_str();
    let body = text(lang, &format!("link.{action_name}.body"), &[("purpose", purpose)]);
    // The page's own texts are looked up in the template, in the texts every render shares (`t`).
    let page = render("link.html", lang, Some(controller), json!({ "action": action_name, "body": body }));
    let mut pages = LINK_PAGES.lock().expect("not poisoned");
    if pages.len() < LINK_PAGES_KEPT {
        pages.insert(key, page.clone());
    }
    page
}

pub fn thanks(lang: Lang, pending: bool, controller: &ControllerProfile) -> Response<Body> {
    crate::respond::html(StatusCode::OK, render("thanks.html", lang, Some(controller), json!({ "pending": pending })))
}

/// The built-in error page, with the error's own status.
pub fn error(err: &ApiError, lang: Lang) -> Response<Body> {
    err.log();
    let fields = err.fields().map(|f| f.iter().map(|e| json!({"field": e.field, "code": e.code})).collect::<Vec<_>>());
    let page = render("error.html", lang, None, json!({ "code": err.code(), "message": err.message(), "fields": fields }));
    let mut resp = crate::respond::html(err.status(), page);
    err.add_headers(&mut resp);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_values_and_speak_both_languages() {
        let err = ApiError::Domain(zgoda_domain::Error::Validation(vec![zgoda_domain::FieldError::new("<script>", "invalid")]));
        let pl = String::from_utf8(error(&err, Lang::Pl).body().to_vec()).unwrap();
        assert!(pl.contains("&lt;script&gt;") && !pl.contains("<script>"));
        assert!(pl.contains("Nie udało się"));
        let en = String::from_utf8(thanks(Lang::En, true, &ControllerProfile::example()).body().to_vec()).unwrap();
        assert!(en.contains("check your inbox"));
        for lang in Lang::ALL {
            assert_eq!(texts(lang, "errors").as_object().unwrap().len(), texts(Lang::Pl, "errors").as_object().unwrap().len());
        }
    }

    /// Templates compile on first use; this is every template's first use, so a broken or
    /// forgotten one fails here rather than on the first person who meets it.
    #[test]
    fn every_template_compiles_and_every_template_file_is_known() {
        for (name, _) in SOURCES {
            if let Err(e) = TEMPLATES.get_template(name) {
                panic!("{name}: {e:#}");
            }
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut files = Vec::new();
        for sub in ["", "mail"] {
            for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    files.push(path.strip_prefix(&dir).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        files.sort();
        let mut known: Vec<String> = SOURCES.iter().map(|(name, _)| name.to_string()).collect();
        known.sort();
        assert_eq!(files, known);
    }

    #[test]
    fn a_link_page_is_the_same_remembered_as_rendered_and_shows_its_own_purpose_language_and_action() {
        let first = link_page(Lang::En, LinkAction::Unsubscribe, "newsletter", &ControllerProfile::example());
        assert_eq!(link_page(Lang::En, LinkAction::Unsubscribe, "newsletter", &ControllerProfile::example()), first);
        assert!(first.contains("consent for: newsletter") && first.contains("Unsubscribe me"));
        let other = link_page(Lang::En, LinkAction::Unsubscribe, "offers", &ControllerProfile::example());
        assert!(other.contains("consent for: offers") && !other.contains("newsletter"));
        let pl = link_page(Lang::Pl, LinkAction::Unsubscribe, "newsletter", &ControllerProfile::example());
        assert!(pl.contains(r#"<html lang="pl">"#) && !first.contains(r#"<html lang="pl">"#));
        assert!(link_page(Lang::En, LinkAction::Erase, "", &ControllerProfile::example()).contains("Erase my data"));
    }

    #[test]
    fn link_pages_past_the_bound_are_rendered_each_time_and_still_right() {
        for i in 0..LINK_PAGES_KEPT + 10 {
            let page = link_page(Lang::En, LinkAction::Confirm, &format!("purpose-{i}"), &ControllerProfile::example());
            assert!(page.contains(&format!("consent for: purpose-{i}.")), "{i}");
        }
        assert!(LINK_PAGES.lock().unwrap().len() <= LINK_PAGES_KEPT);
    }
}
