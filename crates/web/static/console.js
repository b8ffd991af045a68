// The DPO's console: signs every operator request in the browser, exactly as the CLI does
// (README "Signing an operator request"), with WebCrypto alone. The key is imported as a
// non-extractable HMAC key: kept in memory for this tab, or, when the operator ticks "remember",
// in this origin's IndexedDB as the same non-extractable key. It is never sent, shown or stored
// as text.
'use strict';

const TEXTS = {
  pl: {
    title: 'zgoda · konsola IOD', sign_in_title: 'Zaloguj się kluczem operatora',
    sign_in_help: 'Identyfikator i klucz (hex) operatora, te same co w CLI. Klucz nie opuszcza przeglądarki.',
    kid: 'Identyfikator klucza', key: 'Klucz (hex)', remember: 'Zapamiętaj na tym urządzeniu', sign_in: 'Zaloguj',
    sign_out: 'Wyloguj', signed_in_as: 'Operator', other_lang: 'English',
    register: 'Rejestr naruszeń', breach: 'Naruszenie', band: 'Poziom', deadline: 'Termin', left: 'Pozostało',
    no_breaches: 'Brak zarejestrowanych naruszeń.',
    bad_key_format: 'Klucz musi być zapisem szesnastkowym (hex), jak w CLI.',
    refused: 'Serwer nie przyjął podpisu: sprawdź identyfikator i klucz.',
    clock: 'Zegar tego urządzenia różni się od serwera o {s} s; podpis jest ważny przez 300 s. Ustaw czas automatycznie i spróbuj ponownie.',
    failed: 'Serwer odpowiedział błędem ({status}). Spróbuj ponownie za chwilę.',
    offline: 'Brak połączenia z serwerem.',
    no_crypto: 'Ta przeglądarka nie udostępnia WebCrypto (crypto.subtle); konsola wymaga HTTPS lub localhost.',
    band_low: 'niski', band_medium: 'średni', band_high: 'wysoki', band_very_high: 'bardzo wysoki',
    notify_authority: 'PUODO', notify_controller: 'administrator',
    status_not_required: 'zgłoszenie niewymagane', status_notified: 'zgłoszono', status_notified_late: 'zgłoszono po terminie',
    late_by: 'po terminie o',
    incidents: 'Incydenty', requests: 'Żądania', plans: 'Plany działań', forms: 'Formularze', subjects: 'Osoby', webhooks: 'Webhooki',
    missing: 'Brakuje w zgłoszeniu', complete: 'komplet', back: '← Rejestr',
    // The report's sections by id (`report_missing`), in short.
    section_notifying_entity: 'podmiot zgłaszający', section_incident_time_place: 'data i miejsce', section_detection: 'stwierdzenie',
    section_nature: 'charakter', section_other_entities: 'inne podmioty', section_data: 'kategorie danych', section_subjects: 'kategorie osób',
    section_contact_point: 'punkt kontaktowy', section_consequences: 'konsekwencje', section_measures: 'środki', section_severity: 'ocena ryzyka',
    section_timing: 'termin', section_subjects_communication: 'zawiadomienie osób', section_decisions: 'decyzje',
    section_corrections: 'uzupełnienia', section_action_plan: 'plan działań',
    confirm_yes: 'Tak, wykonaj', confirm_no: 'Anuluj',
    facts: 'Fakty', nature: 'Charakter naruszenia', occurred_at: 'Wystąpiło', detected_at: 'Wykryto', aware_at: 'Stwierdzono',
    data_categories: 'Kategorie danych', approx_subjects: 'Liczba osób (ok.)', likely_consequences: 'Możliwe konsekwencje',
    measures: 'Zastosowane środki', contact_point: 'Punkt kontaktowy', severity: 'Waga', duties: 'Obowiązki',
    authority_required: 'Zgłoszenie do PUODO', subjects_required: 'Zawiadomienie osób', required: 'wymagane', not_required: 'niewymagane',
    basis: 'podstawa', basis_band: 'poziom', basis_decision: 'decyzja', basis_role: 'rola', basis_order: 'nakaz organu', basis_instruction: 'polecenie administratora',
    timeline: 'Oś czasu', seal_ok: 'Pieczęcie sprawdzone: {n} wpisów, łańcuch nienaruszony.', seal_broken: 'Łańcuch pieczęci przerwany przy wpisie {at}.',
    at: 'Kiedy', type: 'Rodzaj', by: 'Kto', what: 'Treść',
    add_entry: 'Dodaj wpis', entry_type: 'Rodzaj wpisu', add: 'Dodaj', added: 'Wpis dodany i zapieczętowany.',
    type_measure: 'środek zaradczy', type_facts: 'korekta faktów', type_authority_decision: 'decyzja: zgłoszenie do PUODO',
    type_subjects_decision: 'decyzja: zawiadomienie osób', type_authority_notified: 'zgłoszono PUODO', type_action: 'działanie w planie',
    type_registered: 'rejestracja', type_escalated: 'zawiadomienie osób', type_action_status: 'status działania', type_authority_order: 'nakaz organu',
    description: 'Opis', reason: 'Powód korekty', field: 'Pole', value: 'Nowa wartość', decision: 'Decyzja', justification: 'Uzasadnienie',
    ground: 'Podstawa zwolnienia (art. 34 ust. 3)', reference: 'Numer zgłoszenia', notified_at: 'Kiedy zgłoszono', delay_reasons: 'Przyczyny opóźnienia',
    category: 'Kategoria', owner: 'Odpowiedzialny (e-mail)', due_at: 'Termin',
    decision_notify: 'zawiadomić / zgłosić', decision_not_notify: 'nie zawiadamiać / nie zgłaszać', decision_exempt: 'zwolnienie',
    category_containment: 'ograniczenie', category_mitigation: 'złagodzenie', category_prevention: 'zapobieganie',
    confirm_decision: 'Zapisać decyzję „{what}” na stałe w osi czasu naruszenia? Wpisu nie można zmienić ani usunąć.',
    report: 'Projekt zgłoszenia (art. 33 ust. 3)', download_md: 'Pobierz .md', download_json: 'Pobierz .json',
    escalation: 'Zawiadomienie osób (art. 34)', purposes_list: 'Cele (oddzielone przecinkami)', forms_list: 'Formularze (oddzielone przecinkami)',
    emails_list: 'Adresy (po jednym w wierszu)', advice_pl: 'Zalecenia po polsku', advice_en: 'Zalecenia po angielsku (opcjonalnie)',
    facts_en: 'Fakty po angielsku: charakter, konsekwencje, środki (po jednym w wierszu)', public_notice: 'Opublikuj też komunikat publiczny',
    preview: 'Podgląd', send: 'Wyślij', preview_counts: '{n} osób: {langs}; nieosiągalnych (usuniętych): {erased}.',
    confirm_send: 'Wysłać {n} powiadomień ({langs})? Tego nie można cofnąć.', lang_pl: 'po polsku', lang_en: 'po angielsku',
    progress: 'wysłano {sent}, nieudane {failed}, w kolejce {pending} z {total}', finished: 'zakończone',
    no_items: 'Brak.', status: 'Status', kind: 'Rodzaj', received: 'Wpłynęło', due: 'Termin', overdue: 'po terminie', days_left: 'zostało {d} dni',
    reported_at: 'Zgłoszono', channel: 'Kanał', report_text: 'Zgłoszenie',
    action: 'Działanie', plan_of: 'Naruszenie', action_status: 'Status',
    form_id: 'Identyfikator formularza', show: 'Pokaż', notice_versions: 'Wersje klauzuli', version: 'Wersja', retired: 'wycofana', current: 'obowiązująca',
    email: 'Adres e-mail', look_up: 'Szukaj', proof_ok: 'Dowód zgód sprawdzony: {n} zdarzeń, łańcuch nienaruszony.', proof_broken: 'Dowód przerwany przy zdarzeniu {at}.',
    purpose: 'Cel', state: 'Stan', event: 'Zdarzenie',
    url: 'Adres', enabled: 'Włączony', failing: 'Nieudane', dead: 'Porzucone', yes: 'tak', no: 'nie',
    actions: 'Działania', done_ok: 'Zrobione.', reasons: 'Uzasadnienie', months: 'O ile miesięcy', outcome: 'Wynik',
    outcome_done: 'spełnione', outcome_refused: 'odmowa',
    close_request: 'Zamknij żądanie', extend_request: 'Przedłuż termin',
    confirm_close_done: 'Zamknąć żądanie ({kind}) jako spełnione?',
    confirm_close_refused: 'Odmówić spełnienia żądania ({kind})? Uzasadnienie zostanie wysłane osobie wraz z informacją o prawie do skargi do PUODO i do sądu.',
    confirm_extend: 'Przedłużyć termin żądania ({kind}) o {m} mies.? Osoba dostanie e-mail z uzasadnieniem i nowym terminem. Można to zrobić tylko raz.',
    close_incident: 'Zamknij: to nie jest naruszenie', confirm_close_incident: 'Zamknąć zgłoszenie z {at} jako niebędące naruszeniem ochrony danych? Uzasadnienie zostanie zachowane.',
    erase: 'Usuń dane tej osoby', erase_reason: 'Powód usunięcia (nie trafia do logów)',
    confirm_erase: 'Usunąć dane osoby {email} na stałe? Adres i to, co przesłała w formularzach ({n}), zostaną usunięte; zapieczętowane dowody zostaną bez nich. Tego nie można cofnąć.',
    erased: 'Dane osoby {email} usunięte.', already_erased: 'Dane osoby {email} były już usunięte.',
    reporting: 'Zgłaszanie', reporting_links: 'Linki do zgłaszania incydentów', channel_id: 'Identyfikator (np. obsluga-klienta)', name: 'Nazwa',
    holder: 'Kto ma link', generation: 'Generacja', link: 'Link', lang: 'Język', create_link: 'Utwórz link', rotate_link: 'Unieważnij i wydaj nowy',
    confirm_rotate_link: 'Wydać nowy link dla „{name}”? Każdy dotychczasowy link tego kanału przestanie działać.',
    processors: 'Podmioty przetwarzające (art. 28)', processor_id: 'Identyfikator (np. kurier-x)', contact_email_p: 'E-mail do spraw ochrony danych',
    processes: 'Co przetwarza', purposes: 'Cele (oddzielone przecinkami)', agreement_date: 'Data umowy powierzenia', add_processor: 'Dodaj podmiot',
    webhook_url: 'Adres webhooka', rotate_secret: 'Nowy sekret webhooka', confirm_rotate_secret: 'Wydać nowy sekret webhooka dla „{name}”? Dotychczasowy działa jeszcze 24 godziny.',
    confirm_update_processor: 'Zaktualizować „{name}”? Podmiot o tym identyfikatorze jest już zapisany; jego dane zostaną zastąpione.',
    secret_once: 'Sekret webhooka (pokazany tylko raz, przekaż go podmiotowi): {secret}',
    kind_access: 'dostęp do danych', kind_erasure: 'usunięcie danych', kind_objection: 'sprzeciw', kind_rectification: 'sprostowanie', kind_restriction: 'ograniczenie przetwarzania',
    new_breach: 'Zarejestruj naruszenie', register_as_breach: 'Zarejestruj jako naruszenie', from_incident: 'Ze zgłoszenia z {at}',
    registered_ok: 'Naruszenie zarejestrowane i zapieczętowane; termin liczy się od chwili stwierdzenia.',
    breach_title: 'Tytuł', cia: 'Co naruszono', confidentiality: 'poufność', integrity: 'integralność', availability: 'dostępność',
    aware_justification: 'Dlaczego stwierdzono w innej chwili niż wykryto (jeśli tak)', subject_categories: 'Kategorie osób',
    approx_records: 'Liczba wpisów danych (ok.)', place: 'Miejsce', causes: 'Przebieg i przyczyny', other_entities: 'Inne podmioty zaangażowane',
    contact_name: 'Punkt kontaktowy: imię i nazwisko', contact_email: 'Punkt kontaktowy: e-mail', contact_phone: 'Punkt kontaktowy: telefon',
    role: 'Rola firmy', role_controller: 'administrator', role_processor: 'podmiot przetwarzający (dla klienta)',
    controller_name: 'Administrator (klient): nazwa', controller_email: 'Administrator (klient): e-mail', notify_within_hours: 'Termin z umowy (godziny)',
    severity_method: 'Waga metodą ENISA: SE = DPC × EI + CB', dpc: 'Kontekst przetwarzania (DPC)', ei: 'Łatwość identyfikacji osób (EI)',
    dpc_simple: 'dane proste', dpc_behavioural: 'dane behawioralne', dpc_financial: 'dane finansowe', dpc_sensitive: 'dane szczególne',
    dpc_unknown: 'nie wiadomo (przyjmij najgorsze)', ei_unknown: 'nie wiadomo (przyjmij najgorsze)',
    'ei_0.25': 'znikoma (0,25)', 'ei_0.5': 'ograniczona (0,5)', 'ei_0.75': 'znaczna (0,75)', ei_1: 'pełna (1)',
    cb_confidentiality: 'Okoliczności: utrata poufności', cb_integrity: 'Okoliczności: utrata integralności', cb_availability: 'Okoliczności: utrata dostępności',
    cb_0: 'brak (0)', 'cb_0.25': 'ograniczona (0,25)', 'cb_0.5': 'szeroka (0,5)', malicious: 'Działanie celowe, w złym zamiarze',
    ask_reporter: 'Zapytaj zgłaszającego', question: 'Pytanie', confirm_ask: 'Wysłać zgłaszającemu to pytanie e-mailem? Odpowie przez link w wiadomości.',
    type_controller_notified: 'powiadomiono administratora', type_controller_instruction: 'polecenie administratora', type_drill_ended: 'koniec ćwiczeń',
    ordered_at: 'Data nakazu', action_id: 'Działanie z planu', note: 'Notatka (wymagana, gdy porzucone)', instruction: 'Treść polecenia', notes: 'Wnioski z ćwiczeń',
    prevention_kind: 'Rodzaj zapobiegania', astatus_planned: 'zaplanowane', astatus_in_progress: 'w toku', astatus_done: 'zrobione', astatus_dropped: 'porzucone',
    pk_: '—', pk_internal_audit: 'audyt wewnętrzny', pk_external_audit: 'audyt zewnętrzny', pk_risk_analysis: 'analiza ryzyka', pk_dpia: 'ocena skutków (DPIA)',
    pk_safeguards: 'zabezpieczenia', pk_training: 'szkolenie', pk_organisational_change: 'zmiana organizacyjna', pk_procedure_change: 'zmiana procedury',
    pk_more_effective_procedures: 'skuteczniejsze procedury', pk_disciplinary_steps: 'kroki dyscyplinarne',
  },
  en: {
    title: 'zgoda · DPO console', sign_in_title: 'Sign in with an operator key',
    sign_in_help: "The operator's key id and key (hex), the same as the CLI's. The key never leaves the browser.",
    kid: 'Key id', key: 'Key (hex)', remember: 'Remember on this device', sign_in: 'Sign in',
    sign_out: 'Sign out', signed_in_as: 'Operator', other_lang: 'Polski',
    register: 'Breach register', breach: 'Breach', band: 'Band', deadline: 'Deadline', left: 'Left',
    no_breaches: 'No breaches registered.',
    bad_key_format: 'The key must be hexadecimal, as the CLI takes it.',
    refused: 'The server did not accept the signature: check the key id and the key.',
    clock: "This device's clock is {s} s off the server's; a signature is valid for 300 s. Set the time automatically and try again.",
    failed: 'The server answered with an error ({status}). Try again in a moment.',
    offline: 'The server cannot be reached.',
    no_crypto: 'This browser offers no WebCrypto (crypto.subtle); the console needs HTTPS or localhost.',
    band_low: 'low', band_medium: 'medium', band_high: 'high', band_very_high: 'very high',
    notify_authority: 'authority', notify_controller: 'controller',
    status_not_required: 'no notification required', status_notified: 'notified', status_notified_late: 'notified late',
    late_by: 'late by',
    incidents: 'Incidents', requests: 'Requests', plans: 'Action plans', forms: 'Forms', subjects: 'People', webhooks: 'Webhooks',
    missing: 'Missing from the report', complete: 'complete', back: '← Register',
    section_notifying_entity: 'notifying entity', section_incident_time_place: 'date and place', section_detection: 'detection',
    section_nature: 'nature', section_other_entities: 'other entities', section_data: 'data categories', section_subjects: 'subject categories',
    section_contact_point: 'contact point', section_consequences: 'consequences', section_measures: 'measures', section_severity: 'risk assessment',
    section_timing: 'timing', section_subjects_communication: 'telling the people', section_decisions: 'decisions',
    section_corrections: 'corrections', section_action_plan: 'action plan',
    confirm_yes: 'Yes, go ahead', confirm_no: 'Cancel',
    facts: 'Facts', nature: 'Nature of the breach', occurred_at: 'Occurred', detected_at: 'Detected', aware_at: 'Aware',
    data_categories: 'Data categories', approx_subjects: 'People (approx.)', likely_consequences: 'Likely consequences',
    measures: 'Measures taken', contact_point: 'Contact point', severity: 'Severity', duties: 'Duties',
    authority_required: 'Notify the authority', subjects_required: 'Tell the people', required: 'required', not_required: 'not required',
    basis: 'rests on', basis_band: 'band', basis_decision: 'decision', basis_role: 'role', basis_order: "authority's order", basis_instruction: "controller's instruction",
    timeline: 'Timeline', seal_ok: 'Seals checked: {n} entries, the chain is intact.', seal_broken: 'The seal chain breaks at entry {at}.',
    at: 'When', type: 'Kind', by: 'By', what: 'Content',
    add_entry: 'Add an entry', entry_type: 'Kind of entry', add: 'Add', added: 'Entry added and sealed.',
    type_measure: 'measure', type_facts: 'facts corrected', type_authority_decision: 'decision: notify the authority',
    type_subjects_decision: 'decision: tell the people', type_authority_notified: 'authority notified', type_action: 'action in the plan',
    type_registered: 'registered', type_escalated: 'people told', type_action_status: 'action status', type_authority_order: "authority's order",
    description: 'Description', reason: 'Why it is corrected', field: 'Field', value: 'New value', decision: 'Decision', justification: 'Justification',
    ground: 'Exemption ground (Art. 34(3))', reference: 'Reference', notified_at: 'Notified at', delay_reasons: 'Reasons for the delay',
    category: 'Category', owner: 'Owner (e-mail)', due_at: 'Due',
    decision_notify: 'notify', decision_not_notify: 'do not notify', decision_exempt: 'exempt',
    category_containment: 'containment', category_mitigation: 'mitigation', category_prevention: 'prevention',
    confirm_decision: 'Record the decision "{what}" in the breach timeline for good? An entry can never be changed or removed.',
    report: 'Notification draft (Art. 33(3))', download_md: 'Download .md', download_json: 'Download .json',
    escalation: 'Tell the people (Art. 34)', purposes_list: 'Purposes (comma-separated)', forms_list: 'Forms (comma-separated)',
    emails_list: 'Addresses (one a line)', advice_pl: 'Advice in Polish', advice_en: 'Advice in English (optional)',
    facts_en: 'The facts in English: nature, consequences, measures (one a line)', public_notice: 'Also publish a public notice',
    preview: 'Preview', send: 'Send', preview_counts: '{n} people: {langs}; unreachable (erased): {erased}.',
    confirm_send: 'Send {n} notices ({langs})? This cannot be undone.', lang_pl: 'in Polish', lang_en: 'in English',
    progress: 'sent {sent}, failed {failed}, pending {pending} of {total}', finished: 'finished',
    no_items: 'None.', status: 'Status', kind: 'Kind', received: 'Received', due: 'Due', overdue: 'overdue', days_left: '{d} days left',
    reported_at: 'Reported', channel: 'Channel', report_text: 'Report',
    action: 'Action', plan_of: 'Breach', action_status: 'Status',
    form_id: 'Form id', show: 'Show', notice_versions: 'Notice versions', version: 'Version', retired: 'retired', current: 'current',
    email: 'E-mail address', look_up: 'Look up', proof_ok: 'Consent proof checked: {n} events, the chain is intact.', proof_broken: 'The proof breaks at event {at}.',
    purpose: 'Purpose', state: 'State', event: 'Event',
    url: 'URL', enabled: 'Enabled', failing: 'Failing', dead: 'Given up', yes: 'yes', no: 'no',
    actions: 'Actions', done_ok: 'Done.', reasons: 'Reasons', months: 'By how many months', outcome: 'Outcome',
    outcome_done: 'done', outcome_refused: 'refused',
    close_request: 'Close the request', extend_request: 'Extend the deadline',
    confirm_close_done: 'Close the request ({kind}) as done?',
    confirm_close_refused: 'Refuse the request ({kind})? The reasons are mailed to the person, with their right to complain to the PUODO and to go to court.',
    confirm_extend: 'Extend the request ({kind}) by {m} month(s)? The person is mailed the reasons and the new due date. This can be done only once.',
    close_incident: 'Close: not a breach', confirm_close_incident: 'Close the report of {at} as not a personal data breach? The reasons are kept with it.',
    erase: "Erase this person's data", erase_reason: 'Why (not logged)',
    confirm_erase: "Erase {email}'s data for good? The address and what the forms carried ({n}) are deleted; the sealed proofs stay, without them. This cannot be undone.",
    erased: "{email}'s data is erased.", already_erased: "{email}'s data was already erased.",
    reporting: 'Reporting', reporting_links: 'Incident reporting links', channel_id: 'Id (e.g. customer-service)', name: 'Name',
    holder: 'Held by', generation: 'Generation', link: 'Link', lang: 'Language', create_link: 'Create the link', rotate_link: 'Revoke and issue a new one',
    confirm_rotate_link: 'Issue a new link for "{name}"? Every earlier link of this channel stops working.',
    processors: 'Processors (Art. 28)', processor_id: 'Id (e.g. courier-x)', contact_email_p: 'Data protection e-mail',
    processes: 'What it processes', purposes: 'Purposes (comma-separated)', agreement_date: 'Processing agreement signed on', add_processor: 'Add the processor',
    webhook_url: 'Webhook URL', rotate_secret: 'New webhook secret', confirm_rotate_secret: 'Issue a new webhook secret for "{name}"? The current one keeps working for 24 hours.',
    confirm_update_processor: 'Update "{name}"? A processor with this id is on file; its record will be replaced.',
    secret_once: 'The webhook secret (shown once; hand it to the processor): {secret}',
    kind_access: 'access', kind_erasure: 'erasure', kind_objection: 'objection', kind_rectification: 'rectification', kind_restriction: 'restriction',
    new_breach: 'Register a breach', register_as_breach: 'Register as a breach', from_incident: 'From the report of {at}',
    registered_ok: 'Breach registered and sealed; the deadline runs from when you became aware.',
    breach_title: 'Title', cia: 'What was breached', confidentiality: 'confidentiality', integrity: 'integrity', availability: 'availability',
    aware_justification: 'Why awareness came at another time than detection (if so)', subject_categories: 'Subject categories',
    approx_records: 'Data records (approx.)', place: 'Place', causes: 'Course and causes', other_entities: 'Other entities involved',
    contact_name: 'Contact point: name', contact_email: 'Contact point: e-mail', contact_phone: 'Contact point: phone',
    role: "The business's role", role_controller: 'controller', role_processor: 'processor (for a client)',
    controller_name: 'Controller (client): name', controller_email: 'Controller (client): e-mail', notify_within_hours: "The contract's term (hours)",
    severity_method: 'Severity by the ENISA method: SE = DPC × EI + CB', dpc: 'Data processing context (DPC)', ei: 'Ease of identification (EI)',
    dpc_simple: 'simple data', dpc_behavioural: 'behavioural data', dpc_financial: 'financial data', dpc_sensitive: 'sensitive data',
    dpc_unknown: 'not known (assume the worst)', ei_unknown: 'not known (assume the worst)',
    'ei_0.25': 'negligible (0.25)', 'ei_0.5': 'limited (0.5)', 'ei_0.75': 'significant (0.75)', ei_1: 'maximum (1)',
    cb_confidentiality: 'Circumstances: loss of confidentiality', cb_integrity: 'Circumstances: loss of integrity', cb_availability: 'Circumstances: loss of availability',
    cb_0: 'none (0)', 'cb_0.25': 'limited (0.25)', 'cb_0.5': 'wide (0.5)', malicious: 'Deliberate, with ill intent',
    ask_reporter: 'Ask the reporter', question: 'Question', confirm_ask: 'Mail the reporter this question? They answer through the link in the mail.',
    type_controller_notified: 'controller told', type_controller_instruction: "controller's instruction", type_drill_ended: 'drill ended',
    ordered_at: 'Ordered on', action_id: 'Action in the plan', note: 'Note (required when dropped)', instruction: 'The instruction', notes: "The drill's findings",
    prevention_kind: 'Kind of prevention', astatus_planned: 'planned', astatus_in_progress: 'in progress', astatus_done: 'done', astatus_dropped: 'dropped',
    pk_: '—', pk_internal_audit: 'internal audit', pk_external_audit: 'external audit', pk_risk_analysis: 'risk analysis', pk_dpia: 'impact assessment (DPIA)',
    pk_safeguards: 'safeguards', pk_training: 'training', pk_organisational_change: 'organisational change', pk_procedure_change: 'procedure change',
    pk_more_effective_procedures: 'more effective procedures', pk_disciplinary_steps: 'disciplinary steps',
  },
};

const query = new URLSearchParams(location.search);
const LANG = (query.get('lang') || navigator.language || 'pl').toLowerCase().startsWith('en') ? 'en' : 'pl';
const t = (k, vars = {}) => (TEXTS[LANG][k] || k).replace(/\{(\w+)\}/g, (_, v) => String(vars[v]));
const $ = (id) => document.getElementById(id);
const encoder = new TextEncoder();
const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
// How far this clock may be from the server's (`operator_sig`'s window).
const CLOCK_WINDOW_SECS = 300;

/** The signed-in operator: `{kid, key}` with `key` a non-extractable CryptoKey. */
let session = null;

function unhex(text) {
  const clean = text.trim();
  if (!/^([0-9a-fA-F]{2})+$/.test(clean)) return null;
  return Uint8Array.from(clean.match(/../g), (h) => parseInt(h, 16));
}

function importKey(bytes) {
  return crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
}

/**
 * A request to the operator API, signed: `ts \n METHOD \n host \n path-and-query \n
 * idempotency-key \n hex(SHA-256(body))`, HMAC-SHA256 under the operator key. A random `_n`
 * parameter (signed with the rest) keeps two identical requests in one second from being
 * taken for a replay, as in the CLI.
 */
async function signedFetch(method, path, body, idempotencyKey) {
  const url = new URL(path, location.origin);
  url.searchParams.set('_n', hex(crypto.getRandomValues(new Uint8Array(8))));
  const pathAndQuery = url.pathname + url.search;
  const bytes = body === undefined ? new Uint8Array(0) : encoder.encode(JSON.stringify(body));
  const ts = Math.floor(Date.now() / 1000);
  const digest = hex(await crypto.subtle.digest('SHA-256', bytes));
  const message = [ts, method, location.host.toLowerCase(), pathAndQuery, idempotencyKey || '', digest].join('\n');
  const sig = hex(await crypto.subtle.sign('HMAC', session.key, encoder.encode(message)));
  const headers = { authorization: `Zgoda-HMAC-SHA256 kid=${session.kid}, ts=${ts}, sig=${sig}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
  return fetch(url, { method, headers, body: body === undefined ? undefined : bytes, credentials: 'omit', cache: 'no-store' });
}

/** Why a request was refused, in words: a stale clock is told apart by the server's `Date`. */
function refusal(response) {
  if (response.status === 401) {
    const server = Date.parse(response.headers.get('date') || '');
    const skew = Number.isNaN(server) ? 0 : Math.round((Date.now() - server) / 1000);
    return Math.abs(skew) > CLOCK_WINDOW_SECS - 30 ? t('clock', { s: skew }) : t('refused');
  }
  return t('failed', { status: response.status });
}

function show(message) {
  const box = $('message');
  box.textContent = message || '';
  box.hidden = !message;
}

// Remembered keys: IndexedDB keeps a CryptoKey as it is (still non-extractable).
const DB = { name: 'zgoda-console', store: 'operator', id: 'key' };

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB.name, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(DB.store);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function remembered(action, value) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(DB.store, action === 'get' ? 'readonly' : 'readwrite');
    const store = tx.objectStore(DB.store);
    const req = action === 'get' ? store.get(DB.id) : action === 'put' ? store.put(value, DB.id) : store.delete(DB.id);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function translate() {
  document.documentElement.lang = LANG;
  document.title = t('title');
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
  const other = LANG === 'pl' ? 'en' : 'pl';
  $('switch-lang').textContent = t('other_lang');
  $('switch-lang').href = `?lang=${other}${location.hash}`;
}

/** An element: `el('td', {className: 'x', text: 'y', onclick: f}, child, …)`. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k in node && k !== 'list') node[k] = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** A table of `rows`, each a list of cells (text or elements); the `empty` text when there are none. */
function table(headers, rows, id, empty = 'no_items') {
  if (rows.length === 0) return el('p', { text: t(empty), className: 'empty' });
  const head = el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { text: t(h) }))));
  const body = el('tbody', { id }, ...rows.map((r) => el('tr', r.attrs || {}, ...(r.cells || r).map((c) => (c instanceof Node && c.tagName === 'TD' ? c : el('td', {}, c ?? '—'))))));
  return el('table', {}, head, body);
}

const when = (iso) => (iso ? new Date(iso).toLocaleString(LANG) : '—');

/** Why the server refused a request, with the fields it names (`422`'s `fields`). */
async function failure(response) {
  let text = refusal(response);
  try {
    const body = await response.json();
    if (body.error) {
      text = response.status === 401 ? text : `${body.error.message} (${response.status} ${body.error.code})`;
      if (body.error.fields) text += ': ' + body.error.fields.map((f) => `${f.field} ${f.code}`).join(', ');
    }
  } catch (e) { /* not JSON: the status says enough */ }
  return text;
}

class Refused extends Error {}

/** A signed request's JSON; on a refusal the message is shown and `Refused` thrown. */
async function api(method, path, body, idempotencyKey) {
  let response;
  try {
    response = await signedFetch(method, path, body, idempotencyKey);
  } catch (e) {
    show(t('offline'));
    throw new Refused('offline');
  }
  if (!response.ok) {
    show(await failure(response));
    throw new Refused(String(response.status));
  }
  const type = response.headers.get('content-type') || '';
  return type.includes('json') ? response.json() : response.text();
}

/**
 * Sends with the form's button disabled, so a second click while the request is on its way sends
 * nothing; resolves to the answer, or `undefined` when the server refused (its message shown).
 */
async function once(button, send) {
  button.disabled = true;
  try {
    return await send();
  } catch (e) {
    if (!(e instanceof Refused)) throw e;
    return undefined;
  } finally {
    button.disabled = false;
  }
}

/** Asks before a click that cannot be taken back; resolves to true only on "yes". */
function confirmed(text) {
  const dialog = $('confirm');
  $('confirm-text').textContent = text;
  return new Promise((resolve) => {
    const done = (answer) => () => {
      $('confirm-yes').onclick = null;
      $('confirm-no').onclick = null;
      dialog.close();
      resolve(answer);
    };
    $('confirm-yes').onclick = done(true);
    $('confirm-no').onclick = done(false);
    dialog.showModal();
  });
}

async function signIn(event) {
  event.preventDefault();
  show('');
  const bytes = unhex($('key').value);
  if (!bytes) {
    show(t('bad_key_format'));
    return;
  }
  const candidate = { kid: $('kid').value.trim(), key: await importKey(bytes) };
  bytes.fill(0);
  $('key').value = '';
  session = candidate;
  try {
    await api('GET', '/v1/breaches');
  } catch (e) {
    session = null;
    return;
  }
  if ($('remember').checked) await remembered('put', candidate);
  enter();
}

async function signOut() {
  session = null;
  await remembered('delete').catch(() => {});
  stopTimers();
  $('view').replaceChildren();
  $('view').hidden = true;
  $('nav').hidden = true;
  $('tabs').hidden = true;
  $('sign-in').hidden = false;
  show('');
}

function enter() {
  $('who').textContent = `${t('signed_in_as')}: ${session.kid}`;
  $('sign-in').hidden = true;
  $('nav').hidden = false;
  $('tabs').hidden = false;
  $('view').hidden = false;
  route();
}

// Timers of the view on screen (countdowns, progress polls), stopped when it changes. A view
// starts them as `owner`, the `route` call that asked for it: a view dropped for a later one
// starts none, where its timers would run on behind the view shown until the next route.
let timers = [];
function every(ms, f, owner) {
  if (owner !== routes) return null;
  const id = setInterval(f, ms);
  timers.push(id);
  return id;
}
function stopTimers() {
  timers.forEach(clearInterval);
  timers = [];
}

const VIEWS = {
  '': registerView, 'new-breach': newBreachView, breach: breachView, incidents: incidentsView, requests: requestsView, plans: plansView,
  forms: formsView, subjects: subjectsView, webhooks: webhooksView, reporting: reportingView,
};

/** A line for the next view to show once rendered (a change that moved to another view). */
let pendingNote = null;

// Each `route` call's number: a view that arrives after a later one was asked for is dropped, so a
// quick click on another tab never ends on the slower, earlier view.
let routes = 0;

/** The view the address names (`#/breach/<id>`, `#/requests`, …); the register by default. */
async function route() {
  if (!session) return;
  const mine = ++routes;
  stopTimers();
  show('');
  const [name, arg] = location.hash.replace(/^#\/?/, '').split('/');
  const view = VIEWS[name] || registerView;
  for (const a of document.querySelectorAll('#tabs a')) a.classList.toggle('current', a.getAttribute('href') === `#/${name || ''}`);
  $('switch-lang').href = `?lang=${LANG === 'pl' ? 'en' : 'pl'}${location.hash}`;
  try {
    const shown = await view(arg && decodeURIComponent(arg), mine);
    if (mine !== routes) return;
    $('view').replaceChildren(...shown);
    if (pendingNote) $('view').prepend(el('p', { className: 'note', role: 'status', text: pendingNote }));
    pendingNote = null;
  } catch (e) {
    if (!(e instanceof Refused)) throw e;
  }
  tick();
}

function duration(seconds) {
  const s = Math.abs(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return `${h} h ${String(m).padStart(2, '0')} min ${String(sec).padStart(2, '0')} s`;
}

/** A deadline's live countdown cell (see `tick`). */
function countdownCell(deadline) {
  const d = deadline || {};
  const td = el('td', { className: 'countdown' });
  td.dataset.due = d.due_at || '';
  td.dataset.status = d.status || '';
  return td;
}

/** Each open deadline counts down live, coloured by urgency (late, under 24 h, open). */
function tick() {
  for (const node of document.querySelectorAll('.countdown')) {
    const status = node.dataset.status;
    if (status !== 'open' && status !== 'late') {
      node.textContent = t(`status_${status}`);
      node.className = 'countdown done';
      continue;
    }
    const left = Math.round((Date.parse(node.dataset.due) - Date.now()) / 1000);
    node.textContent = left >= 0 ? duration(left) : `${t('late_by')} ${duration(left)}`;
    node.className = `countdown ${left < 0 ? 'late' : left < 24 * 3600 ? 'urgent' : 'open'}`;
  }
}

const deadlineText = (d) => (d && d.due_at ? `${t(`notify_${d.notify}`)} · ${when(d.due_at)}` : '—');

async function registerView(_, owner) {
  const list = await api('GET', '/v1/breaches');
  const items = list.items || [];
  const rows = items.map((b) => {
    const titles = (b.report_missing || []).map((id) => t(`section_${id}`));
    return {
      attrs: { 'data-breach': b.id },
      cells: [
        el('a', { href: `#/breach/${b.id}`, text: b.title }),
        t(`band_${b.severity && b.severity.band}`),
        deadlineText(b.deadline),
        countdownCell(b.deadline),
        el('td', { className: titles.length ? 'missing' : 'complete', text: titles.length ? `${titles.length}: ${titles.join(', ')}` : t('complete') }),
      ],
    };
  });
  every(1000, tick, owner);
  return [el('h2', { text: t('register') }), el('a', { href: '#/new-breach', id: 'new-breach', className: 'button', text: t('new_breach') }), table(['breach', 'band', 'deadline', 'left', 'missing'], rows, 'breaches', 'no_breaches')];
}

function dl(pairs) {
  return el('dl', {}, ...pairs.flatMap(([k, v]) => [el('dt', { text: t(k) }), el('dd', { text: v === undefined || v === null || v === '' ? '—' : String(v) })]));
}

function field(label, input) {
  const id = `f-${input.name}`;
  input.id = id;
  return [el('label', { htmlFor: id, text: t(label) }), input];
}

const input = (name, attrs = {}) => el('input', { name, ...attrs });
const textarea = (name, attrs = {}) => el('textarea', { name, rows: 3, ...attrs });
const select = (name, values, prefix) => el('select', { name }, ...values.map((v) => el('option', { value: v, text: prefix ? t(`${prefix}${v}`) : v })));
const isoFrom = (local) => (local ? new Date(local).toISOString() : undefined);

const PREVENTION_KINDS = ['', 'internal_audit', 'external_audit', 'risk_analysis', 'dpia', 'safeguards', 'training',
  'organisational_change', 'procedure_change', 'more_effective_procedures', 'disciplinary_steps'];
const isController = (b) => b.role !== 'processor';
const isProcessor = (b) => b.role === 'processor';

// Each kind of timeline entry: its fields, how the form becomes the API's body, and for which
// breaches it is offered (`only`; the server refuses another role's entry as `wrong_role`).
const ENTRY_KINDS = {
  measure: { fields: () => [['description', textarea('description')]], body: (f) => ({ description: f.description }) },
  facts: {
    fields: () => [
      ['field', select('field', ['title', 'nature', 'likely_consequences', 'measures', 'approx_subjects', 'approx_records'])],
      ['value', textarea('value')],
      ['reason', textarea('reason')],
    ],
    body: (f) => ({ updates: { [f.field]: /^approx_/.test(f.field) ? Number(f.value) : f.value }, reason: f.reason }),
  },
  authority_decision: {
    decision: true,
    only: isController,
    fields: () => [['decision', select('decision', ['notify', 'not_notify'], 'decision_')], ['justification', textarea('justification')]],
    body: (f) => ({ decision: f.decision, justification: f.justification }),
  },
  subjects_decision: {
    decision: true,
    fields: () => [
      ['decision', select('decision', ['notify', 'not_notify', 'exempt'], 'decision_')],
      ['ground', select('ground', ['', 'a', 'b', 'c'])],
      ['justification', textarea('justification')],
    ],
    body: (f) => ({ decision: f.decision, ground: f.ground || undefined, justification: f.justification }),
  },
  authority_notified: {
    only: isController,
    fields: () => [['reference', input('reference')], ['notified_at', input('notified_at', { type: 'datetime-local' })], ['delay_reasons', textarea('delay_reasons')]],
    body: (f) => ({ reference: f.reference, notified_at: isoFrom(f.notified_at), delay_reasons: f.delay_reasons || undefined }),
  },
  authority_order: {
    decision: true,
    fields: () => [['reference', input('reference')], ['ordered_at', input('ordered_at', { type: 'datetime-local' })]],
    body: (f) => ({ reference: f.reference, ordered_at: isoFrom(f.ordered_at) }),
  },
  action: {
    fields: () => [
      ['category', select('category', ['containment', 'mitigation', 'prevention'], 'category_')],
      ['prevention_kind', select('prevention_kind', PREVENTION_KINDS, 'pk_')],
      ['description', textarea('description')],
      ['owner', input('owner', { type: 'email' })],
      ['due_at', input('due_at', { type: 'datetime-local' })],
    ],
    body: (f) => ({
      category: f.category, prevention_kind: f.prevention_kind || undefined, description: f.description, owner: f.owner, due_at: isoFrom(f.due_at),
    }),
  },
  action_status: {
    only: (b) => (b.action_plan || []).some((a) => a.status !== 'done' && a.status !== 'dropped'),
    fields: (b) => [
      ['action_id', el('select', { name: 'action_id' }, ...(b.action_plan || []).filter((a) => a.status !== 'done' && a.status !== 'dropped')
        .map((a) => el('option', { value: a.action_id, text: a.description })))],
      ['status', select('status', ['planned', 'in_progress', 'done', 'dropped'], 'astatus_')],
      ['note', textarea('note')],
    ],
    body: (f) => ({ action_id: f.action_id, status: f.status, note: f.note || undefined }),
  },
  controller_notified: {
    only: isProcessor,
    fields: () => [['reference', input('reference')], ['notified_at', input('notified_at', { type: 'datetime-local' })], ['delay_reasons', textarea('delay_reasons')]],
    body: (f) => ({ reference: f.reference, notified_at: isoFrom(f.notified_at), delay_reasons: f.delay_reasons || undefined }),
  },
  controller_instruction: {
    decision: true,
    only: isProcessor,
    fields: () => [['instruction', textarea('instruction')]],
    body: (f) => ({ instruction: f.instruction }),
  },
  drill_ended: {
    only: (b) => Boolean(b.drill),
    fields: () => [['notes', textarea('notes')]],
    body: (f) => ({ notes: f.notes }),
  },
};

function entryForm(breach) {
  const kind = select('type', Object.keys(ENTRY_KINDS).filter((k) => !ENTRY_KINDS[k].only || ENTRY_KINDS[k].only(breach)), 'type_');
  const fields = el('div', { className: 'fields' });
  const fill = () => fields.replaceChildren(...ENTRY_KINDS[kind.value].fields(breach).flatMap(([label, node]) => field(label, node)));
  kind.addEventListener('change', fill);
  fill();
  const button = el('button', { type: 'submit', text: t('add') });
  const form = el('form', { id: 'entry-form', className: 'wide' }, ...field('entry_type', kind), fields, button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    const spec = ENTRY_KINDS[values.type];
    const what = values.decision ? t(`decision_${values.decision}`) : values.reference || values.instruction;
    if (spec.decision && !(await confirmed(t('confirm_decision', { what: `${t(`type_${values.type}`)}: ${what}` })))) return;
    const added = await once(button, () => api('POST', `/v1/breaches/${breach.id}/events`, { type: values.type, ...spec.body(values) }));
    if (added === undefined) return;
    await route();
    show('');
    $('view').prepend(el('p', { className: 'note', role: 'status', text: t('added') }));
  });
  return form;
}

function entrySummary(e) {
  const b = e.body || {};
  return b.description || b.justification || b.reason || b.reference || b.instruction || b.notes || (b.recipients !== undefined ? `${b.recipients}` : '') || (b.title || '');
}

function download(name, type, content) {
  const link = el('a', { href: URL.createObjectURL(new Blob([content], { type })), download: name });
  document.body.append(link);
  link.click();
  link.remove();
}

function reportSection(breach) {
  const lang = select('report-lang', ['pl', 'en']);
  lang.value = LANG;
  const out = el('pre', { id: 'report', className: 'report' });
  const path = (format) => `/v1/breaches/${breach.id}/report?lang=${lang.value}&format=${format}`;
  const showIt = async () => {
    out.textContent = await api('GET', path('md')).catch(() => '');
  };
  const fetchAndSave = (format, type) => async () => {
    const doc = await api('GET', path(format)).catch(() => null);
    if (doc !== null) download(`zgoda-${breach.id}-${lang.value}.${format}`, type, format === 'json' ? JSON.stringify(doc, null, 2) : doc);
  };
  lang.addEventListener('change', showIt);
  showIt();
  return el('section', {}, el('h3', { text: t('report') }),
    el('div', { className: 'buttons' }, lang,
      el('button', { id: 'download-md', type: 'button', text: t('download_md'), onclick: fetchAndSave('md', 'text/markdown') }),
      el('button', { id: 'download-json', type: 'button', text: t('download_json'), onclick: fetchAndSave('json', 'application/json') })),
    out);
}

const langsText = (byLang) => Object.entries(byLang).map(([l, n]) => `${n} ${t(`lang_${l}`)}`).join(', ');
const list = (text) => text.split(/[\n,]/).map((x) => x.trim()).filter(Boolean);

/**
 * The escalation started but not yet seen through, per breach, kept in this origin's storage so
 * a reload (or a second click) repeats the same request under the same Idempotency-Key: the server
 * answers as the first time and sends nothing again.
 */
const pending = {
  name: (breachId) => `zgoda-escalation:${breachId}`,
  get: (breachId) => JSON.parse(localStorage.getItem(pending.name(breachId)) || 'null'),
  put: (breachId, value) => localStorage.setItem(pending.name(breachId), JSON.stringify(value)),
  clear: (breachId) => localStorage.removeItem(pending.name(breachId)),
};

function escalationBody(form) {
  const f = Object.fromEntries(new FormData(form));
  const message = { pl: f.advice_pl };
  if (f.advice_en.trim()) {
    const [nature, consequences, measures] = f.facts_en.split('\n').map((x) => x.trim());
    message.en = nature ? { advice: f.advice_en, nature, consequences: consequences || undefined, measures: measures || undefined } : f.advice_en;
  }
  return {
    subjects: { purposes: list(f.purposes), forms: list(f.forms), emails: list(f.emails) },
    message,
    public_notice: f.public_notice === 'on',
  };
}

/** Sends (or repeats) the escalation kept for this breach, then follows its progress. */
async function sendEscalation(breach, kept, progressBox, owner) {
  try {
    const started = await api('POST', `/v1/breaches/${breach.id}/escalations`, kept.body, kept.key);
    follow(breach, started.escalation_id, progressBox, owner, () => pending.clear(breach.id));
  } catch (e) {
    // 409 idempotency_in_progress: the first request is still running; ask again shortly, while
    // the breach is on screen (the kept request is repeated when it is shown again).
    if (e.message === '409') setTimeout(() => owner === routes && sendEscalation(breach, kept, progressBox, owner), 1000);
  }
}

function progressLine(p) {
  const bar = el('progress', { max: Math.max(p.total, 1), value: p.sent + p.failed });
  const text = el('span', { className: 'progress-text', text: t('progress', p) + (p.finished_at ? ` · ${t('finished')}` : '') });
  return el('div', { className: 'progress' }, bar, text);
}

/** Polls an escalation's progress until nothing is pending, while its view is the one shown. */
function follow(breach, escalationId, box, owner, onFinished) {
  const update = async () => {
    let p;
    try {
      p = await api('GET', `/v1/breaches/${breach.id}/escalations/${escalationId}`);
    } catch (e) {
      return;
    }
    const line = progressLine(p);
    line.dataset.escalation = escalationId;
    const old = box.querySelector(`[data-escalation="${escalationId}"]`);
    if (old) old.replaceWith(line);
    else box.append(line);
    if (p.finished_at) {
      clearInterval(id);
      if (onFinished) onFinished();
    }
  };
  const id = every(1000, update, owner);
  if (id !== null) update();
}

function escalationSection(breach, owner) {
  const form = el('form', { id: 'escalation-form', className: 'wide' },
    ...field('purposes_list', input('purposes')),
    ...field('forms_list', input('forms')),
    ...field('emails_list', textarea('emails')),
    ...field('advice_pl', textarea('advice_pl', { required: true })),
    ...field('advice_en', textarea('advice_en')),
    ...field('facts_en', textarea('facts_en')),
    el('label', { className: 'check' }, input('public_notice', { type: 'checkbox' }), ' ', t('public_notice')),
    el('div', { className: 'buttons' },
      el('button', { id: 'preview', type: 'button', text: t('preview') }),
      el('button', { id: 'send', type: 'button', text: t('send'), disabled: true })));
  const previewBox = el('div', { id: 'escalation-preview' });
  const progressBox = el('div', { id: 'escalation-progress' });
  for (const e of breach.escalations || []) {
    const line = progressLine(e);
    line.dataset.escalation = e.escalation_id;
    progressBox.append(line);
    if (!e.finished_at) follow(breach, e.escalation_id, progressBox, owner);
  }
  let previewed = null;
  form.addEventListener('input', () => {
    previewed = null;
    $('send').disabled = true;
  });
  form.querySelector('#preview').addEventListener('click', async () => {
    const body = escalationBody(form);
    let p;
    try {
      p = await api('POST', `/v1/breaches/${breach.id}/escalation-preview`, body);
    } catch (e) {
      return;
    }
    show('');
    previewed = { body, preview: p };
    previewBox.replaceChildren(
      el('p', { id: 'preview-counts', text: t('preview_counts', { n: p.recipients, langs: langsText(p.by_lang), erased: p.unreachable_erased }) }),
      ...p.notices.map((n) => el('details', { open: true }, el('summary', { text: `${n.lang.toUpperCase()} · ${n.subject}` }), el('pre', { className: `notice notice-${n.lang}`, text: n.text }))));
    $('send').disabled = p.recipients === 0;
  });
  form.querySelector('#send').addEventListener('click', async () => {
    const button = $('send');
    if (!previewed || button.disabled) return;
    button.disabled = true;
    const { body, preview } = previewed;
    if (!(await confirmed(t('confirm_send', { n: preview.recipients, langs: langsText(preview.by_lang) })))) {
      button.disabled = false;
      return;
    }
    // Kept before it is sent: a reload from here on repeats this request, never a new one.
    const kept = { key: crypto.randomUUID(), body };
    pending.put(breach.id, kept);
    previewed = null;
    await sendEscalation(breach, kept, progressBox, owner);
  });
  const kept = pending.get(breach.id);
  if (kept) sendEscalation(breach, kept, progressBox, owner);
  return el('section', {}, el('h3', { text: t('escalation') }), progressBox, form, previewBox);
}

async function breachView(id, owner) {
  const b = await api('GET', `/v1/breaches/${encodeURIComponent(id)}`);
  const basis = (key) => (key ? ` (${t('basis')}: ${t(`basis_${key}`)})` : '');
  const duty = (required, key) => `${t(required ? 'required' : 'not_required')}${basis(key)}`;
  const proof = b.timeline_proof || {};
  const timelineRows = (b.timeline || []).map((e) => [when(e.at), t(`type_${e.type}`), e.by, entrySummary(e)]);
  every(1000, tick, owner);
  const countdownBox = el('p', {}, deadlineText(b.deadline), ' · ', el('span', { id: 'breach-countdown', className: 'countdown' }));
  const cd = countdownBox.querySelector('.countdown');
  cd.dataset.due = (b.deadline || {}).due_at || '';
  cd.dataset.status = (b.deadline || {}).status || '';
  return [
    el('p', {}, el('a', { href: '#/', text: t('back') })),
    el('h2', { id: 'breach-title', text: b.title }),
    countdownBox,
    el('h3', { text: t('severity') }),
    el('p', { id: 'severity', text: `${t(`band_${b.severity.band}`)} · ${b.severity.rule}` }),
    el('h3', { text: t('duties') }),
    dl([['authority_required', duty(b.authority_notification_required, b.authority_basis)], ['subjects_required', duty(b.subjects_notification_required, b.subjects_basis)]]),
    el('h3', { text: t('facts') }),
    dl([
      ['nature', b.nature], ['occurred_at', when(b.occurred_at)], ['detected_at', when(b.detected_at)], ['aware_at', when(b.aware_at)],
      ['data_categories', (b.data_categories || []).join(', ')], ['approx_subjects', b.approx_subjects],
      ['likely_consequences', b.likely_consequences], ['measures', b.measures],
      ['contact_point', b.contact_point && `${b.contact_point.name} <${b.contact_point.email}>`],
    ]),
    el('h3', { text: t('timeline') }),
    el('p', { id: 'seal-check', className: proof.verified ? 'note' : 'note bad', text: proof.verified ? t('seal_ok', { n: proof.entries }) : t('seal_broken', { at: proof.broken_at }) }),
    table(['at', 'type', 'by', 'what'], timelineRows, 'timeline'),
    el('h3', { text: t('add_entry') }),
    entryForm(b),
    reportSection(b),
    escalationSection(b, owner),
  ];
}

/** `2026-12-06T10:00:00Z` as a `datetime-local` input's value, in this device's time. */
function localFrom(iso) {
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

const number = (v) => (v === '' || v === undefined ? undefined : Number(v));
const severityValue = (v) => (v === 'unknown' ? 'unknown' : Number(v));

/** `POST /v1/breaches`'s body from the registration form; the server checks and names each field. */
function breachBody(f) {
  const processor = f.role === 'processor';
  return {
    title: f.title,
    nature: f.nature,
    cia: { confidentiality: f.confidentiality === 'on', integrity: f.integrity === 'on', availability: f.availability === 'on' },
    occurred_at: isoFrom(f.occurred_at),
    detected_at: isoFrom(f.detected_at),
    aware_at: isoFrom(f.aware_at),
    aware_justification: f.aware_justification || undefined,
    data_categories: list(f.data_categories),
    subject_categories: list(f.subject_categories),
    approx_subjects: number(f.approx_subjects),
    approx_records: number(f.approx_records),
    likely_consequences: f.likely_consequences || undefined,
    measures: f.measures || undefined,
    place: f.place || undefined,
    causes: f.causes || undefined,
    other_entities: f.other_entities || undefined,
    contact_point: { name: f.contact_name, email: f.contact_email, phone: f.contact_phone || undefined },
    role: f.role,
    processing_for: processor ? { name: f.controller_name, email: f.controller_email, notify_within_hours: number(f.notify_within_hours) } : undefined,
    severity_inputs: {
      dpc: f.dpc === 'unknown' ? 'unknown' : { category: f.dpc, adjustments: [] },
      ei: severityValue(f.ei),
      cb: {
        confidentiality: Number(f.cb_confidentiality), integrity: Number(f.cb_integrity), availability: Number(f.cb_availability),
        malicious: f.malicious === 'on',
      },
    },
  };
}

/**
 * The registration form: the facts known now (the rest is added later as `facts` entries), the
 * contact point, the role and the ENISA inputs. `prefill` fills fields from an incident's report.
 */
function breachForm(path, prefill) {
  const v = prefill || {};
  const check = (name) => el('label', { className: 'inline' }, el('input', { type: 'checkbox', name }), ' ', t(name));
  const processorOnly = el('div', { className: 'fields', hidden: true },
    ...field('controller_name', input('controller_name')),
    ...field('controller_email', input('controller_email', { type: 'email' })),
    ...field('notify_within_hours', input('notify_within_hours', { type: 'number', min: 1, max: 72, value: '24' })));
  const role = select('role', ['controller', 'processor'], 'role_');
  role.addEventListener('change', () => { processorOnly.hidden = role.value !== 'processor'; });
  const button = el('button', { type: 'submit', text: t(prefill ? 'register_as_breach' : 'new_breach') });
  const form = el('form', { id: 'breach-form', className: 'wide' },
    ...field('breach_title', input('title', { required: true, maxLength: 200 })),
    ...field('nature', textarea('nature', { required: true, value: v.nature || '' })),
    el('fieldset', {}, el('legend', { text: t('cia') }), check('confidentiality'), check('integrity'), check('availability')),
    ...field('occurred_at', input('occurred_at', { type: 'datetime-local' })),
    ...field('detected_at', input('detected_at', { type: 'datetime-local', required: true, value: v.detected_at ? localFrom(v.detected_at) : '' })),
    ...field('aware_at', input('aware_at', { type: 'datetime-local', required: true, value: localFrom(new Date().toISOString()) })),
    ...field('aware_justification', textarea('aware_justification')),
    ...field('data_categories', input('data_categories')),
    ...field('subject_categories', input('subject_categories')),
    ...field('approx_subjects', input('approx_subjects', { type: 'number', min: 0 })),
    ...field('approx_records', input('approx_records', { type: 'number', min: 0 })),
    ...field('likely_consequences', textarea('likely_consequences')),
    ...field('measures', textarea('measures')),
    ...field('place', input('place')),
    ...field('causes', textarea('causes')),
    ...field('other_entities', input('other_entities')),
    ...field('contact_name', input('contact_name', { required: true })),
    ...field('contact_email', input('contact_email', { type: 'email', required: true })),
    ...field('contact_phone', input('contact_phone', { type: 'tel' })),
    ...field('role', role),
    processorOnly,
    el('h4', { text: t('severity_method') }),
    ...field('dpc', select('dpc', ['simple', 'behavioural', 'financial', 'sensitive', 'unknown'], 'dpc_')),
    ...field('ei', select('ei', ['0.25', '0.5', '0.75', '1', 'unknown'], 'ei_')),
    ...['confidentiality', 'integrity', 'availability'].flatMap((c) => field(`cb_${c}`, select(`cb_${c}`, ['0', '0.25', '0.5'], 'cb_'))),
    check('malicious'),
    button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const breach = await once(button, () => api('POST', path, breachBody(Object.fromEntries(new FormData(form)))));
    if (breach === undefined) return;
    // The view follows the address; the note says the clock is running.
    pendingNote = t('registered_ok');
    location.hash = `#/breach/${encodeURIComponent(breach.id)}`;
  });
  return form;
}

/** A new breach (`#/new-breach`), or an incident in triage registered as one (`#/new-breach/<incident>`). */
async function newBreachView(incidentId) {
  if (!incidentId) return [el('h2', { text: t('new_breach') }), breachForm('/v1/breaches')];
  const i = await api('GET', `/v1/incidents/${encodeURIComponent(incidentId)}`);
  const report = i.report || {};
  return [
    el('h2', { text: t('register_as_breach') }),
    el('p', { className: 'note', text: t('from_incident', { at: when(i.reported_at) }) }),
    el('blockquote', { id: 'incident-report', text: report.what || '' }),
    breachForm(`/v1/incidents/${encodeURIComponent(incidentId)}/breach`, { nature: report.what, detected_at: i.reported_at }),
  ];
}

async function incidentsView() {
  const list = await api('GET', '/v1/incidents?status=open');
  const rows = (list.items || []).map((i) => {
    const close = actionForm(
      `close-${i.incident_id}`, 'close_incident', [labelled('reasons', textarea('reasons', { required: true, maxLength: 4000 }))],
      () => t('confirm_close_incident', { at: when(i.reported_at) }),
      (v) => api('POST', `/v1/incidents/${encodeURIComponent(i.incident_id)}/close`, { reasons: v.reasons }),
      redone,
    );
    const id = encodeURIComponent(i.incident_id);
    const ask = actionForm(
      `ask-${i.incident_id}`, 'ask_reporter', [labelled('question', textarea('question', { required: true, maxLength: 4000 }))],
      () => t('confirm_ask'),
      (v) => api('POST', `/v1/incidents/${id}/ask`, { question: v.question }),
      redone,
    );
    const register = el('a', { href: `#/new-breach/${id}`, className: 'button', text: t('register_as_breach') });
    return {
      attrs: { 'data-incident': i.incident_id },
      cells: [when(i.reported_at), i.channel_name || i.channel_id, i.status, (i.report && i.report.what) || '', el('details', {}, el('summary', { text: t('actions') }), register, ask, close)],
    };
  });
  return [el('h2', { text: t('incidents') }), table(['reported_at', 'channel', 'status', 'report_text', 'actions'], rows, 'incidents')];
}

async function requestsView() {
  const list = await api('GET', '/v1/admin/requests?status=open');
  const rows = (list.items || []).map((r) => {
    const days = Math.floor((Date.parse(r.due_at) - Date.now()) / 86400000);
    const path = `/v1/admin/requests/${encodeURIComponent(r.request_id)}`;
    const close = actionForm(
      `close-${r.request_id}`, 'close_request',
      [labelled('outcome', select('outcome', ['done', 'refused'], 'outcome_')), labelled('reasons', textarea('reasons', { maxLength: 2000 }))],
      (v) => t(`confirm_close_${v.outcome}`, { kind: t(`kind_${r.kind}`) }),
      (v) => api('POST', `${path}/close`, { outcome: v.outcome, reasons: v.reasons || undefined }),
      redone,
    );
    const extend = r.extension
      ? null
      : actionForm(
          `extend-${r.request_id}`, 'extend_request',
          [labelled('months', select('months', ['1', '2'])), labelled('reasons', textarea('reasons', { required: true, maxLength: 2000 }))],
          (v) => t('confirm_extend', { kind: t(`kind_${r.kind}`), m: v.months }),
          (v) => api('POST', `${path}/extend`, { months: Number(v.months), reasons: v.reasons }),
          redone,
        );
    const status = el('td', { className: r.overdue ? 'late' : days < 7 ? 'urgent' : 'open', text: r.overdue ? t('overdue') : t('days_left', { d: days }) });
    return { attrs: { 'data-request': r.request_id }, cells: [t(`kind_${r.kind}`), when(r.received_at), when(r.due_at), status, el('details', {}, el('summary', { text: t('actions') }), close, extend)] };
  });
  return [el('h2', { text: t('requests') }), table(['kind', 'received', 'due', 'status', 'actions'], rows, 'requests')];
}

async function plansView() {
  const list = await api('GET', '/v1/breaches');
  const rows = [];
  for (const b of list.items || []) {
    for (const a of b.action_plan || []) {
      const overdue = a.status !== 'done' && a.status !== 'dropped' && Date.parse(a.due_at) < Date.now();
      rows.push([el('a', { href: `#/breach/${b.id}`, text: b.title }), a.description, a.owner, el('td', { className: overdue ? 'late' : '', text: when(a.due_at) }), a.status]);
    }
  }
  return [el('h2', { text: t('plans') }), table(['plan_of', 'action', 'owner', 'due', 'action_status'], rows, 'plans')];
}

/** A small view with one lookup field: the answer rendered below it. */
function lookupView(title, label, name, type, run) {
  const box = el('div', { id: `${name}-result` });
  const form = el('form', { id: `${name}-form` }, ...field(label, input(name, { type, required: true })), el('button', { type: 'submit', text: t('look_up') }));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    show('');
    try {
      box.replaceChildren(...(await run(new FormData(form).get(name))));
    } catch (e) {
      if (!(e instanceof Refused)) throw e;
      box.replaceChildren();
    }
  });
  return [el('h2', { text: t(title) }), form, box];
}

/**
 * One action that cannot be taken back: a small form whose submit first asks `question(values)`
 * and only on "yes" sends; `after(answer)` runs once the server has accepted it.
 */
function actionForm(id, label, fields, question, send, after) {
  const button = el('button', { type: 'submit', text: t(label) });
  const form = el('form', { id, className: 'action' }, ...fields, button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    if (!(await confirmed(question(values)))) return;
    const answer = await once(button, () => send(values));
    if (answer !== undefined) await after(answer);
  });
  return form;
}

/** A field inside its label: for forms repeated on every row, which cannot share ids. */
const labelled = (label, node) => el('label', { className: 'inline' }, t(label), ' ', node);

/** Shows the view again with a line saying it is done. */
async function redone() {
  await route();
  $('view').prepend(el('p', { className: 'note', role: 'status', text: t('done_ok') }));
}

async function formsView() {
  return lookupView('forms', 'form_id', 'form_id', 'text', async (id) => {
    const f = await api('GET', `/v1/admin/forms/${encodeURIComponent(id.trim())}`);
    const rows = (f.notices || []).map((n) => [n.version, n.retired ? t('retired') : n.version === f.notice_version ? t('current') : '', Object.keys(n.sha256 || {}).join(', ')]);
    return [el('h3', { text: f.name }), el('h4', { text: t('notice_versions') }), table(['version', 'status', 'kind'], rows, 'notice-versions')];
  });
}

async function subjectsView() {
  return lookupView('subjects', 'email', 'email', 'email', async (email) => {
    const s = await api('POST', '/v1/admin/subjects/lookup', { email });
    const proof = s.proof || {};
    const rows = (s.events || []).map((e) => [when(e.at), e.kind, e.purpose || '', e.form_id || '']);
    const states = Object.entries(s.state || {}).map(([p, st]) => [p, typeof st === 'string' ? st : st.status || JSON.stringify(st)]);
    // Only the person's own record can be erased (not an old address's forwarding record).
    const erase = s.email
      ? actionForm(
          'erase-form', 'erase', [labelled('erase_reason', textarea('reason', { required: true, maxLength: 500 }))],
          () => t('confirm_erase', { email: s.email, n: (s.submissions || []).length }),
          (v) => api('POST', '/v1/admin/subjects/erase', { email: s.email, reason: v.reason }),
          (answer) => $('erase-form').replaceWith(el('p', { id: 'erased', className: 'note', role: 'status', text: t(answer.status === 'already_erased' ? 'already_erased' : 'erased', { email: s.email }) })),
        )
      : null;
    return [
      el('p', { id: 'proof-check', className: proof.verified ? 'note' : 'note bad', text: proof.verified ? t('proof_ok', { n: proof.events }) : t('proof_broken', { at: proof.broken_at }) }),
      table(['purpose', 'state'], states, 'subject-state'),
      table(['at', 'event', 'purpose', 'forms'], rows, 'subject-events'),
      ...(erase ? [el('h3', { text: t('erase') }), erase] : []),
    ];
  });
}

/** A form that is not a confirmation: fields, a button, and `send(values)` on submit. */
function simpleForm(id, label, fields, send) {
  const button = el('button', { type: 'submit', text: t(label) });
  const form = el('form', { id, className: 'wide' }, ...fields, button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    await once(button, () => send(Object.fromEntries(new FormData(form))));
  });
  return form;
}

/** A secret the server shows once: on screen until the view changes, never stored. */
function showSecret(secret) {
  $('view').prepend(el('p', { id: 'secret', className: 'note', role: 'status', text: t('secret_once', { secret }) }));
}

/** Reporting links for staff and partners, and the processors with their own links and webhooks. */
async function reportingView() {
  const [links, processors] = await Promise.all([api('GET', '/v1/admin/reporting-links'), api('GET', '/v1/admin/processors')]);
  const linkRows = (links.items || []).filter((c) => !c.processor_id).map((c) => ({
    attrs: { 'data-channel': c.channel_id },
    cells: [c.name, c.channel_id, String(c.generation), el('input', { readOnly: true, value: c.url, className: 'link' }),
      el('details', {}, el('summary', { text: t('actions') }), actionForm(
        `rotate-${c.channel_id}`, 'rotate_link', [], () => t('confirm_rotate_link', { name: c.name }),
        () => api('POST', `/v1/admin/reporting-links/${encodeURIComponent(c.channel_id)}/rotate`), redone,
      ))],
  }));
  const processorRows = (processors.items || []).map((p) => ({
    attrs: { 'data-processor': p.processor_id },
    cells: [p.name, p.contact_email, p.processes, p.agreement_date, el('input', { readOnly: true, value: p.reporting_url, className: 'link' }),
      el('input', { readOnly: true, value: p.webhook_url, className: 'link' }),
      el('details', {}, el('summary', { text: t('actions') }), actionForm(
        `secret-${p.processor_id}`, 'rotate_secret', [], () => t('confirm_rotate_secret', { name: p.name }),
        () => api('POST', `/v1/admin/processors/${encodeURIComponent(p.processor_id)}/rotate-secret`),
        async (answer) => { await route(); showSecret(answer.webhook_secret); },
      ))],
  }));
  const newLink = simpleForm('link-form', 'create_link', [
    ...field('channel_id', input('channel_id', { required: true, pattern: '[a-z0-9-]+' })),
    ...field('holder', input('name', { required: true })),
    ...field('lang', select('lang', ['pl', 'en'])),
  ], async (v) => {
    await api('POST', '/v1/admin/reporting-links', v);
    await redone();
  });
  const newProcessor = simpleForm('processor-form', 'add_processor', [
    ...field('processor_id', input('processor_id', { required: true, pattern: '[a-z0-9-]+' })),
    ...field('name', input('name', { required: true })),
    ...field('contact_email_p', input('contact_email', { type: 'email', required: true })),
    ...field('processes', textarea('processes', { required: true })),
    ...field('purposes', input('purposes')),
    ...field('agreement_date', input('agreement_date', { type: 'date', required: true })),
  ], async (v) => {
    // The route both registers and updates: an id on file is that processor's record, replaced.
    const onFile = (processors.items || []).find((p) => p.processor_id === v.processor_id);
    if (onFile && !(await confirmed(t('confirm_update_processor', { name: onFile.name })))) return;
    const body = { name: v.name, contact_email: v.contact_email, processes: v.processes, purposes: list(v.purposes), agreement_date: v.agreement_date };
    const created = await api('PUT', `/v1/admin/processors/${encodeURIComponent(v.processor_id)}`, body);
    await route();
    if (created.webhook_secret) showSecret(created.webhook_secret);
  });
  return [
    el('h2', { text: t('reporting') }),
    el('h3', { text: t('reporting_links') }),
    table(['holder', 'channel_id', 'generation', 'link', 'actions'], linkRows, 'reporting-links'),
    el('details', {}, el('summary', { text: t('create_link') }), newLink),
    el('h3', { text: t('processors') }),
    table(['name', 'contact_email_p', 'processes', 'agreement_date', 'link', 'webhook_url', 'actions'], processorRows, 'processors'),
    el('details', {}, el('summary', { text: t('add_processor') }), newProcessor),
  ];
}

async function webhooksView() {
  const list = await api('GET', '/v1/admin/webhooks');
  const rows = (list.items || []).map((w) => [w.url, w.description, t(w.enabled ? 'yes' : 'no'), String(w.failing), String(w.dead)]);
  return [el('h2', { text: t('webhooks') }), table(['url', 'description', 'enabled', 'failing', 'dead'], rows, 'webhooks')];
}

async function start() {
  translate();
  if (!window.crypto || !crypto.subtle) {
    show(t('no_crypto'));
    return;
  }
  $('sign-in-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  const kept = await remembered('get').catch(() => undefined);
  if (kept && kept.key) {
    session = kept;
    try {
      await api('GET', '/v1/breaches');
      enter();
      return;
    } catch (e) {
      session = null;
    }
  }
  $('sign-in').hidden = false;
}

start();
