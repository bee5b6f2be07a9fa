//! `mi-emulator`: runs the emulator on 127.0.0.1 until Ctrl+C, SIGTERM or `--max-lifetime-secs`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use managed_identity_emulator::arc::ChallengeMode;
use managed_identity_emulator::msi_legacy::ExpiresOnForm;
use managed_identity_emulator::{start, EmulatorConfig, ThrottleConfig};

const USAGE: &str = "usage: mi-emulator [--port N] [--address-file PATH] [--info-file PATH]
  [--identity-header VALUE] [--latency-ms N] [--mi-latency-ms N] [--max-concurrency N]
  [--token-lifetime-secs N (default 86400)] [--entra-token-lifetime-secs N (default 3600)]
  [--platform-token-cache-secs N (default 86400, 0 = off)] [--no-platform-token-cache]
  [--replication-lag-ms N] [--token-roles-lag-ms N] [--page-size N] [--random-seed N]
  [--throttle CAPACITY:REFILL_PER_SEC] [--automation-require-metadata] [--no-enforce-permissions]
  [--arc-token-dir PATH] [--arc-challenge MODE] [--arc-key-lifetime-secs N]
  [--msi-expires-on epoch|date] [--service-fabric-port N] [--service-fabric-expires-on number|string]
  [--tls CERTIFICATE_PEM_FILE (also serve https on a free port; the certificate is written there)]
  [--cloud-shell-port N (also answer Cloud Shell's fixed POST /oauth2/token on 127.0.0.1:N; 50342 is Cloud Shell's)]
  [--client-path LOCAL_DIRECTORY=CLIENT_NAME (how clients name these files, e.g. /=Z:\\ under Wine)]
  [--max-lifetime-secs N (default 1800, 0 = no limit)]
mi-emulator --pool [--port N] [--address-file PATH] [--client-path ...] [--max-lifetime-secs N]
  serves emulators on request, for clients that cannot start this program (Windows pwsh under
  Wine): a client connects to 127.0.0.1:PORT, sends one line, a JSON array of the arguments above,
  and reads one line, {\"baseUrl\":...} or {\"error\":...}; the emulator runs until the client
  closes the connection (or its --max-lifetime-secs).";

struct Cli {
    config: EmulatorConfig,
    address_file: Option<PathBuf>,
    info_file: Option<PathBuf>,
    tls_certificate_file: Option<PathBuf>,
    max_lifetime_secs: u64,
    pool: bool,
}

fn parse_num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
    v.parse()
        .map_err(|_| format!("{flag}: invalid value '{v}'"))
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Cli, String> {
    let mut cli = Cli {
        config: EmulatorConfig::default(),
        address_file: None,
        info_file: None,
        tls_certificate_file: None,
        max_lifetime_secs: 1800,
        pool: false,
    };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        // Accept --flag=value as well as --flag value.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next());
        let c = &mut cli.config;
        match flag.as_str() {
            "--port" => c.port = parse_num(&flag, value())?,
            "--address-file" => {
                cli.address_file = Some(PathBuf::from(
                    value().ok_or("--address-file needs a value")?,
                ))
            }
            "--tls" => {
                cli.tls_certificate_file = Some(PathBuf::from(
                    value().ok_or("--tls needs a certificate file path")?,
                ));
                c.tls_port = Some(0);
            }
            "--info-file" => {
                cli.info_file = Some(PathBuf::from(value().ok_or("--info-file needs a value")?))
            }
            "--entra-token-lifetime-secs" => {
                c.entra_token_lifetime_secs = parse_num(&flag, value())?
            }
            "--platform-token-cache-secs" => {
                c.platform_token_cache_secs = parse_num(&flag, value())?
            }
            "--no-platform-token-cache" => c.platform_token_cache_secs = 0,
            "--arc-token-dir" => {
                c.arc_token_dir = Some(PathBuf::from(
                    value().ok_or("--arc-token-dir needs a value")?,
                ))
            }
            "--arc-challenge" => {
                let v = value().ok_or("--arc-challenge needs a value")?;
                c.arc_challenge = ChallengeMode::parse(&v)
                    .ok_or_else(|| format!("--arc-challenge: unknown mode '{v}'"))?;
            }
            "--arc-key-lifetime-secs" => c.arc_key_lifetime_secs = parse_num(&flag, value())?,
            "--msi-expires-on" => {
                let v = value().ok_or("--msi-expires-on needs epoch or date")?;
                c.msi_expires_on = ExpiresOnForm::parse(&v)
                    .ok_or_else(|| format!("--msi-expires-on: unknown form '{v}'"))?;
            }
            "--service-fabric-port" => c.service_fabric_port = parse_num(&flag, value())?,
            "--service-fabric-expires-on" => {
                c.service_fabric_expires_on_string = match value().as_deref() {
                    Some("number") => false,
                    Some("string") => true,
                    _ => return Err("--service-fabric-expires-on needs number or string".into()),
                }
            }
            "--identity-header" => {
                c.identity_header = value().ok_or("--identity-header needs a value")?
            }
            "--latency-ms" => c.latency_ms = parse_num(&flag, value())?,
            "--mi-latency-ms" => c.mi_latency_ms = parse_num(&flag, value())?,
            "--max-concurrency" => {
                c.max_concurrency = Some(parse_num::<usize>(&flag, value())?.max(1))
            }
            "--token-lifetime-secs" => c.token_lifetime_secs = parse_num(&flag, value())?,
            "--replication-lag-ms" => c.replication_lag_ms = parse_num(&flag, value())?,
            "--token-roles-lag-ms" => c.token_roles_lag_ms = parse_num(&flag, value())?,
            "--page-size" => c.page_size = Some(parse_num::<usize>(&flag, value())?.clamp(1, 999)),
            "--random-seed" => c.random_seed = parse_num(&flag, value())?,
            "--throttle" => {
                let v = value().ok_or("--throttle needs CAPACITY:REFILL_PER_SEC")?;
                let (cap, rate) = v
                    .split_once(':')
                    .ok_or("--throttle needs CAPACITY:REFILL_PER_SEC")?;
                c.throttle = Some(ThrottleConfig {
                    capacity: parse_num(&flag, Some(cap.to_string()))?,
                    refill_per_sec: parse_num(&flag, Some(rate.to_string()))?,
                });
            }
            "--automation-require-metadata" => c.automation_require_metadata = true,
            // The default since the Automation endpoint stopped requiring it; still accepted.
            "--no-automation-metadata" => c.automation_require_metadata = false,
            "--cloud-shell-port" => c.cloud_shell_port = Some(parse_num(&flag, value())?),
            "--no-enforce-permissions" => c.enforce_permissions = false,
            "--max-lifetime-secs" => cli.max_lifetime_secs = parse_num(&flag, value())?,
            "--client-path" => c
                .client_paths
                .add(&value().ok_or("--client-path needs LOCAL_DIRECTORY=CLIENT_NAME")?)?,
            "--pool" => cli.pool = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(cli)
}

/// Writes `content` to `path` atomically (temporary file, then rename).
fn write_atomically(path: &Path, content: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, path)
}

async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let emulator = start(cli.config)
        .await
        .map_err(|e| format!("cannot listen: {e}"))?;
    let url = emulator.base_url();
    // The certificate, info and address files before the address file: a reader that waits
    // for the address file then finds them all.
    if let Some(path) = &cli.tls_certificate_file {
        write_atomically(path, emulator.certificate_pem())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = &cli.info_file {
        write_atomically(path, &emulator.info().to_string())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = &cli.address_file {
        write_atomically(path, &url)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "mi-emulator listening on {url}");
        if let Some(https) = emulator.https_base_url() {
            let _ = writeln!(out, "mi-emulator listening on {https}");
        }
        let _ = out.flush();
    }
    tokio::select! {
        _ = terminated() => {}
        _ = lifetime(cli.max_lifetime_secs) => eprintln!("mi-emulator: max lifetime reached, exiting"),
    }
    emulator.shutdown().await;
    Ok(())
}

/// Until `--max-lifetime-secs` has passed (never when 0).
async fn lifetime(secs: u64) {
    if secs == 0 {
        std::future::pending::<()>().await;
    } else {
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
}

/// `--pool`: starts an emulator for each client connection (see USAGE).
async fn run_pool(cli: Cli) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", cli.config.port))
        .await
        .map_err(|e| format!("cannot listen: {e}"))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("cannot listen: {e}"))?
        .to_string();
    if let Some(path) = &cli.address_file {
        write_atomically(path, &address)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    println!("mi-emulator pool listening on {address}");
    let paths = cli.config.client_paths.clone();
    let serve = async {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // e.g. out of file descriptors: let connections close before accepting again.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            tokio::spawn(serve_pool_client(stream, paths.clone()));
        }
    };
    tokio::select! {
        _ = serve => {}
        _ = terminated() => {}
        _ = lifetime(cli.max_lifetime_secs) => eprintln!("mi-emulator: max lifetime reached, exiting"),
    }
    Ok(())
}

/// One pool client: a line of arguments in, a line of JSON out, then the emulator serves until
/// the connection closes. Every wait is bounded; nothing a client sends can stop the pool.
async fn serve_pool_client(
    stream: tokio::net::TcpStream,
    paths: managed_identity_emulator::arc::ClientPaths,
) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    const MAX_REQUEST: u64 = 64 * 1024;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read).take(MAX_REQUEST);
    let mut line = String::new();
    let request = tokio::time::timeout(Duration::from_secs(30), reader.read_line(&mut line)).await;
    let started = match request {
        Ok(Ok(n)) if n > 0 && line.ends_with('\n') => start_pooled(&line, paths).await,
        _ => Err("send one line (at most 64 KiB, within 30 s): a JSON array of arguments".into()),
    };
    let (answer, emulator) = match started {
        Ok((emulator, lifetime_secs)) => (
            serde_json::json!({"baseUrl": emulator.base_url()}),
            Some((emulator, lifetime_secs)),
        ),
        Err(e) => (serde_json::json!({ "error": e }), None),
    };
    let _ = write.write_all(format!("{answer}\n").as_bytes()).await;
    let Some((emulator, lifetime_secs)) = emulator else {
        return;
    };
    // Until the client closes (EOF or error; anything it sends is discarded) or the lifetime ends.
    let mut sink = reader.into_inner();
    let closed = async {
        let mut buffer = [0u8; 256];
        while let Ok(n) = sink.read(&mut buffer).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::select! {
        _ = closed => {}
        _ = lifetime(lifetime_secs) => {}
    }
    emulator.shutdown().await;
}

async fn start_pooled(
    line: &str,
    paths: managed_identity_emulator::arc::ClientPaths,
) -> Result<(managed_identity_emulator::RunningEmulator, u64), String> {
    let arguments: Vec<String> =
        serde_json::from_str(line).map_err(|e| format!("not a JSON array of strings: {e}"))?;
    let mut cli = parse_args(arguments)?;
    if cli.pool
        || cli.address_file.is_some()
        || cli.info_file.is_some()
        || cli.tls_certificate_file.is_some()
    {
        return Err(
            "--pool, --address-file, --info-file and --tls are not available in a pool".into(),
        );
    }
    // The client names the token directory as it sees it.
    if let Some(dir) = &cli.config.arc_token_dir {
        cli.config.arc_token_dir = Some(paths.local(&dir.to_string_lossy()));
    }
    cli.config.client_paths = paths;
    let emulator = start(cli.config)
        .await
        .map_err(|e| format!("cannot start: {e}"))?;
    Ok((emulator, cli.max_lifetime_secs))
}

fn main() -> ExitCode {
    let cli = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            if e.is_empty() {
                // A closed stdout (`mi-emulator --help | head -1`) is no reason to panic.
                let _ = writeln!(std::io::stdout(), "{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("mi-emulator: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mi-emulator: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = if cli.pool {
        runtime.block_on(run_pool(cli))
    } else {
        runtime.block_on(run(cli))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mi-emulator: {e}");
            ExitCode::FAILURE
        }
    }
}
