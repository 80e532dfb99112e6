//! The control-centre side of the harness: one IEC 104 client on the cc, as a SCADA master
//! would hold it, that records every value and quality of the numbered point and gives commands.
//!
//! One connection for both, because the cc serves the connections of one address as a
//! redundancy group in which only the last to start data transfer receives data.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use gridtrust_iec104::asdu::{Asdu, Cause, Cot, DoublePointValue, Element, InformationObject, QOI_STATION, TypeId};
use gridtrust_iec104::client::{Client, ClientConfig, ClientEvent, ClientHandle};

/// One value of the numbered point as SCADA received it.
#[derive(Clone, Copy, Debug)]
pub struct Observation {
    pub at: Instant,
    pub value: f32,
    pub not_topical: bool,
    pub invalid: bool,
}

impl Observation {
    /// Good quality: what a SCADA operator trusts.
    pub fn good(&self) -> bool {
        !self.not_topical && !self.invalid
    }
}

/// How the cc answered a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandAnswer {
    /// Positive ACTCON for select and execute.
    Positive,
    /// A negative ACTCON.
    Negative,
    /// No answer within the wait, or no connection to the cc.
    None,
}

/// The SCADA client; reconnects on its own while it lives.
pub struct Scada {
    seen: Arc<Mutex<Vec<Observation>>>,
    connection: watch::Receiver<Option<ClientHandle>>,
    common_address: u16,
    task: JoinHandle<()>,
}

impl Scada {
    /// Connects to the cc at `cc` and watches `ioa` (the cc's address of the numbered point).
    pub fn start(cc: SocketAddr, common_address: u16, ioa: u32) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (tx, connection) = watch::channel(None);
        let task = tokio::spawn(watch_loop(cc, common_address, ioa, seen.clone(), tx));
        Self {
            seen,
            connection,
            common_address,
            task,
        }
    }

    /// Every observation so far, oldest first.
    pub fn observations(&self) -> Vec<Observation> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The first observation after `since` that satisfies `f`.
    pub fn first_after(&self, since: Instant, f: impl Fn(&Observation) -> bool) -> Option<Observation> {
        self.seen.lock().ok()?.iter().find(|o| o.at >= since && f(o)).copied()
    }

    /// What SCADA showed at `at`: the last observation up to then.
    pub fn shown_at(&self, at: Instant) -> Option<Observation> {
        self.seen.lock().ok()?.iter().rev().find(|o| o.at <= at).copied()
    }

    /// Waits up to `within` for an observation after `since` that satisfies `f`.
    pub async fn wait_for(&self, since: Instant, within: Duration, f: impl Fn(&Observation) -> bool) -> Option<Observation> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(o) = self.first_after(since, &f) {
                return Some(o);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Selects and executes "close" on the double command `ioa`, as an operator would.
    pub async fn command(&self, ioa: u32, wait: Duration) -> CommandAnswer {
        let Some(client) = self.connection.borrow().clone() else {
            return CommandAnswer::None;
        };
        for select in [true, false] {
            let asdu = Asdu::single(
                TypeId::CDcNa1,
                Cot::new(Cause::Activation),
                self.common_address,
                vec![InformationObject::new(
                    ioa,
                    Element::DoubleCommand {
                        value: DoublePointValue::On,
                        qualifier: 0,
                        select,
                        time: None,
                    },
                )],
            );
            match tokio::time::timeout(wait, client.send_command(asdu)).await {
                Ok(Ok(reply)) if reply.is_positive() => {}
                Ok(Ok(_)) => return CommandAnswer::Negative,
                Ok(Err(_)) | Err(_) => return CommandAnswer::None,
            }
        }
        CommandAnswer::Positive
    }
}

impl Drop for Scada {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(c) = self.connection.borrow().as_ref() {
            c.close();
        }
    }
}

async fn watch_loop(
    cc: SocketAddr,
    common_address: u16,
    ioa: u32,
    seen: Arc<Mutex<Vec<Observation>>>,
    connection: watch::Sender<Option<ClientHandle>>,
) {
    let config = ClientConfig {
        confirmation_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    };
    loop {
        let Ok((client, mut events)) = Client::connect(cc, None, config.clone()).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        connection.send_replace(Some(client.clone()));
        let gi = client.clone();
        tokio::spawn(async move {
            let _ = gi.interrogate(common_address, QOI_STATION).await;
        });
        while let Some(ClientEvent::Asdu(asdu)) = events.recv().await {
            for o in asdu.objects.iter().filter(|o| o.ioa == ioa) {
                if let Element::ShortFloat { value, quality, .. } = o.element
                    && let Ok(mut s) = seen.lock()
                {
                    s.push(Observation {
                        at: Instant::now(),
                        value,
                        not_topical: quality.not_topical,
                        invalid: quality.invalid,
                    });
                }
            }
        }
        connection.send_replace(None);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
