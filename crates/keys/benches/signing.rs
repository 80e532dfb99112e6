//! Signing rate of the key stores: a SoftHSM2 token through PKCS#11 (one thread; two threads on
//! a pool of two sessions; two threads on a single session) against the software signer measured
//! in the same run.
//!
//! Criterion measures each case; a closing table prints the median signatures/s of several
//! rounds and the ratio to the software signer, because absolute figures on shared machines are
//! noise. One HSM signature covers a whole batch, so these rates bound batches/s, not records/s.
//!
//! `cargo bench -p gridtrust-keys --bench signing`. Without SoftHSM2 only the software signer is
//! measured.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use gridtrust_keys::softhsm::{self, CONF_ENV};
use gridtrust_keys::{PinSource, Pkcs11Config, Pkcs11Signer, Signer, SoftwareSigner, TokenSelector};

/// A batch header is about this long.
const MESSAGE: [u8; 160] = [0x5a; 160];

/// The signers to compare: name, signer, threads.
type Case = (&'static str, Arc<dyn Signer>, usize);

/// Signs on `threads` threads for about `budget`; signatures per second over all threads.
fn rate(signer: &Arc<dyn Signer>, threads: usize, budget: Duration) -> f64 {
    let start = Instant::now();
    let counts: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut n = 0u64;
                    while start.elapsed() < budget {
                        signer.sign(black_box(&MESSAGE)).expect("sign");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("signing thread")).collect()
    });
    counts.iter().sum::<u64>() as f64 / start.elapsed().as_secs_f64()
}

/// Time for `iters` signatures spread over `threads` threads.
fn timed(signer: &Arc<dyn Signer>, threads: usize, iters: u64) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads as u64 {
            let share = iters / threads as u64 + u64::from(t < iters % threads as u64);
            scope.spawn(move || {
                for _ in 0..share {
                    signer.sign(black_box(&MESSAGE)).expect("sign");
                }
            });
        }
    });
    start.elapsed()
}

fn criterion_benches(c: &mut Criterion, cases: &[Case]) {
    let mut g = c.benchmark_group("sign");
    g.throughput(Throughput::Elements(1));
    for (name, signer, threads) in cases {
        g.bench_function(*name, |b| b.iter_custom(|iters| timed(signer, *threads, iters)));
    }
    g.finish();
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn summary(cases: &[Case], rounds: usize, budget: Duration) {
    let rates: Vec<f64> = cases.iter().map(|(_, s, t)| median((0..rounds).map(|_| rate(s, *t, budget)).collect())).collect();
    let baseline = rates[0];
    println!();
    println!("median of {rounds} rounds of {budget:?}, ECDSA P-256/SHA-256 over {} bytes", MESSAGE.len());
    println!("{:<34} {:>14} {:>12} {:>12}", "signer", "signatures/s", "vs software", "µs/sig");
    for ((name, _, _), r) in cases.iter().zip(&rates) {
        println!("{name:<34} {r:>14.0} {:>12.4} {:>12.1}", r / baseline, 1e6 / r);
    }
}

/// A SoftHSM2 token with a fresh key: the signers with a pool of two sessions and with one.
fn softhsm(dir: &std::path::Path) -> Option<(Arc<dyn Signer>, Arc<dyn Signer>)> {
    if !softhsm::util_available() {
        println!("SKIPPED SoftHSM2 cases: softhsm2-util is not installed (apt-get install softhsm2)");
        return None;
    }
    let token = softhsm::init_softhsm_token(dir, "bench", "87654321", "1234").expect("SoftHSM2 token");
    // SAFETY: single-threaded here, before the module is loaded.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var(CONF_ENV, &token.conf)
    };
    let pin = dir.join("pin");
    std::fs::write(&pin, "1234").expect("pin file");
    let config = Pkcs11Config::new(&token.module, TokenSelector::Label(token.label), "bench", PinSource::File(pin));
    let pooled = Pkcs11Signer::generate_key(&config).expect("key in token");
    assert_eq!(pooled.session_count(), 2);
    let single = Pkcs11Signer::open(&Pkcs11Config { sessions: 1, ..config }).expect("one-session store");
    Some((Arc::new(pooled), Arc::new(single)))
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not and wants a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let dir = tempfile::tempdir().expect("temp dir");
    let software: Arc<dyn Signer> = Arc::new(SoftwareSigner::generate(&dir.path().join("software.pem")).expect("software key"));
    let mut cases: Vec<Case> = vec![("software (ring), 1 thread", software, 1)];
    if let Some((pooled, single)) = softhsm(dir.path()) {
        cases.push(("softhsm2, 1 thread", pooled.clone(), 1));
        cases.push(("softhsm2, 2 threads, 2 sessions", pooled, 2));
        cases.push(("softhsm2, 2 threads, 1 session", single, 2));
    }
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c, &cases);
    c.final_summary();
    if full {
        summary(&cases, 7, Duration::from_millis(500));
    } else {
        summary(&cases, 1, Duration::from_millis(5));
    }
}
