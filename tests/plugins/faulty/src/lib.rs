//! A plugin that misbehaves on purpose, for the router's failover tests. By destination prefix
//! (the config's `panic`, `hang`, `refuse`), it panics in `submit`, never completes, or refuses
//! with `ESME_RSUBMITFAIL`; anything else is accepted as delivered. `down = true` makes it
//! report itself down.

use smpp_router_plugin_api::{
    Completion, Health, Host, Message, Outcome, Plugin, State, export_plugin,
};

struct Faulty {
    panic: String,
    hang: String,
    refuse: String,
    down: bool,
    hung: std::sync::Mutex<Vec<Completion>>,
}

fn field(config: &str, key: &str) -> String {
    // A tiny reader for {"key": "value"} so this plugin needs no JSON library.
    let pat = format!("\"{key}\":\"");
    config
        .replace(' ', "")
        .split_once(&pat)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(v, _)| v.to_string())
        .unwrap_or_else(|| "-".into())
}

impl Plugin for Faulty {
    fn create(config: &str, _host: Host) -> Result<Self, String> {
        Ok(Self {
            panic: field(config, "panic"),
            hang: field(config, "hang"),
            refuse: field(config, "refuse"),
            down: config.replace(' ', "").contains("\"down\":true"),
            hung: std::sync::Mutex::new(Vec::new()),
        })
    }

    fn submit(&self, message: Message<'_>, completion: Completion) {
        let to = message.destination;
        if to.starts_with(&self.panic) {
            panic!("faulty plugin: panic requested");
        } else if to.starts_with(&self.hang) {
            // Kept, never completed: the router's timeout decides.
            if let Ok(mut h) = self.hung.lock() {
                h.push(completion);
            }
        } else if to.starts_with(&self.refuse) {
            completion.complete(Outcome::Refused(0x45));
        } else {
            completion.complete(Outcome::Accepted {
                message_id: String::new(),
                final_state: Some(State::Delivered),
            });
        }
    }

    fn health(&self) -> Health {
        if self.down { Health::Down } else { Health::Up }
    }
}

export_plugin!(Faulty);
