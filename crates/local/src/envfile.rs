//! `.zgoda/local.env`: `KEY=value` lines that tell the CLI where the local stack is (the CLI reads it
//! itself, so it does not depend on this crate).

use std::collections::BTreeMap;
use std::path::Path;

/// What a second process needs to join a stack on this machine (`zgoda-local notifier`,
/// `zgoda-local webhooks`): where it is served, its table, secrets and queues, and the emulator.
pub fn stack_vars(url: &str, config: &zgoda_aws::Config, emulator: &zgoda_aws::LocalEndpoints) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::from([
        ("ZGODA_URL".to_owned(), url.to_owned()),
        ("AWS_REGION".to_owned(), crate::REGION.to_owned()),
        ("ZGODA_TABLE".to_owned(), config.table.clone()),
        ("ZGODA_SECRETS_PREFIX".to_owned(), config.secrets_prefix.clone()),
        ("ZGODA_QUEUE_URL".to_owned(), config.queue_url.clone()),
        ("ZGODA_WEBHOOK_QUEUE_URL".to_owned(), config.webhook_queue_url.clone()),
        ("ZGODA_WEBHOOK_DEAD_LETTER_URL".to_owned(), config.webhook_dead_letter_url.clone()),
        ("ZGODA_SES_CONFIGURATION_SET".to_owned(), config.mail.public.configuration_set.clone().unwrap_or_default()),
        ("ZGODA_SES_NOTICE_CONFIGURATION_SET".to_owned(), config.mail.notices.configuration_set.clone().unwrap_or_default()),
    ]);
    vars.extend(emulator.env_vars().map(|(k, v)| (k.to_owned(), v.to_owned())));
    vars
}

pub fn write(path: &Path, vars: &BTreeMap<String, String>) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text: String = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    // It holds the operator key: readable by its owner only from the moment it exists (a file
    // written first and restricted after is readable by anyone in between), and restricted
    // again if an earlier one was not.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    std::io::Write::write_all(&mut options.open(path)?, text.as_bytes())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_env_file_is_its_owners_alone_and_reads_back() {
        let dir = std::env::temp_dir().join(format!("zgoda-envfile-{}", std::process::id()));
        let path = dir.join("local.env");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&path, "OLD=1\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let vars = std::collections::BTreeMap::from([("ZGODA_OPERATOR_KEY".to_owned(), "ab".repeat(16))]);
        super::write(&path, &vars).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(super::read(&path).unwrap(), vars);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// The variables `write` wrote.
pub fn read(path: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
}
