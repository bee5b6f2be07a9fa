//! `mi-emulator --pool` as the Windows test leg uses it (build.ps1 Start-EmulatorPool): the
//! built program on a free loopback port, one emulator per client connection, stopped when that
//! connection closes; key-file paths named as the client sees them (`--client-path`); bad
//! requests answered with an error while the pool keeps serving.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The pool process, killed when the test ends (also on failure).
struct Pool {
    child: Child,
    address: String,
    folder: PathBuf,
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

fn start_pool(client_paths: &[String]) -> Pool {
    let folder = std::env::temp_dir().join(format!("mi-pool-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&folder).expect("test folder");
    let address_file = folder.join("pool.addr");
    let mut command = Command::new(env!("CARGO_BIN_EXE_mi-emulator"));
    command
        .args(["--pool", "--port", "0", "--max-lifetime-secs", "120"])
        .arg("--address-file")
        .arg(&address_file);
    for mapping in client_paths {
        command.args(["--client-path", mapping]);
    }
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mi-emulator starts");
    let mut pool = Pool {
        child,
        address: String::new(),
        folder,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(address) = std::fs::read_to_string(&address_file) {
            pool.address = address.trim().to_string();
            break;
        }
        assert!(
            pool.child.try_wait().expect("status").is_none(),
            "the pool exited"
        );
        assert!(Instant::now() < deadline, "no address file within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        pool.address.starts_with("127.0.0.1:"),
        "loopback only: {}",
        pool.address
    );
    pool
}

/// Sends one request line; returns the answer and the connection that keeps the emulator alive.
async fn ask(pool: &Pool, line: &str) -> (Value, TcpStream) {
    let bounded = Duration::from_secs(30);
    let mut connection = tokio::time::timeout(bounded, TcpStream::connect(&pool.address))
        .await
        .expect("connects within 30 s")
        .expect("connects");
    connection
        .write_all(line.as_bytes())
        .await
        .expect("request sent");
    let mut answer = String::new();
    tokio::time::timeout(
        bounded,
        BufReader::new(&mut connection).read_line(&mut answer),
    )
    .await
    .expect("answer within 30 s")
    .expect("answer");
    (
        serde_json::from_str(&answer).expect("one line of JSON"),
        connection,
    )
}

async fn info(base_url: &str) -> reqwest::Result<Value> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?
        .get(format!("{base_url}/_emulator/info"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await
}

#[tokio::test]
async fn each_connection_gets_its_own_emulator_until_it_closes() {
    let pool = start_pool(&[]);
    let (first, first_connection) =
        ask(&pool, "[\"--identity-header\", \"pooled-header\"]\n").await;
    let (second, second_connection) = ask(&pool, "[]\n").await;
    let first_url = first["baseUrl"].as_str().expect("baseUrl").to_string();
    let second_url = second["baseUrl"].as_str().expect("baseUrl").to_string();
    assert_ne!(first_url, second_url, "two emulators");
    assert!(first_url.starts_with("http://127.0.0.1:"), "{first_url}");
    // The arguments reached the emulator: its own settings, not the other's.
    assert_eq!(
        info(&first_url).await.unwrap()["identityHeader"],
        "pooled-header"
    );
    assert_ne!(
        info(&second_url).await.unwrap()["identityHeader"],
        "pooled-header"
    );

    // Closing the first connection stops the first emulator only (bounded wait).
    drop(first_connection);
    let deadline = Instant::now() + Duration::from_secs(10);
    while info(&first_url).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "the emulator outlived its connection"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    info(&second_url)
        .await
        .expect("the other emulator still serves");
    drop(second_connection);
}

#[tokio::test]
async fn key_files_are_named_as_the_client_sees_them() {
    let local = std::env::temp_dir().join(format!("mi-pool-drive-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&local).expect("drive folder");
    let local = local.canonicalize().expect("canonical");
    let pool = start_pool(&[format!("{}=C:\\", local.display())]);
    // The client names the Arc token directory as it sees it (C:\…); the pool maps it back.
    let request = json!([
        "--arc-token-dir",
        "C:\\ProgramData\\AzureConnectedMachineAgent\\Tokens"
    ]);
    let (answer, connection) = ask(&pool, &format!("{request}\n")).await;
    let base_url = answer["baseUrl"].as_str().expect("baseUrl");
    let shown = info(base_url).await.unwrap()["hosts"]["arc"]["tokenDirectory"].clone();
    assert_eq!(shown, "C:\\ProgramData\\AzureConnectedMachineAgent\\Tokens");
    let created: &Path = &local.join("ProgramData/AzureConnectedMachineAgent/Tokens");
    assert!(created.is_dir(), "{} was created", created.display());
    drop(connection);
    drop(pool);
    std::fs::remove_dir_all(&local).ok();
}

#[tokio::test]
async fn bad_requests_get_an_error_and_the_pool_keeps_serving() {
    let pool = start_pool(&[]);
    for (line, expected) in [
        ("not json\n", "not a JSON array of strings"),
        ("[1, 2]\n", "not a JSON array of strings"),
        ("[\"--bogus\"]\n", "unknown argument '--bogus'"),
        ("[\"--port\", \"x\"]\n", "--port: invalid value 'x'"),
        ("[\"--pool\"]\n", "not available in a pool"),
        (
            "[\"--address-file\", \"/tmp/x\"]\n",
            "not available in a pool",
        ),
        ("[\"--tls\", \"/tmp/x.pem\"]\n", "not available in a pool"),
    ] {
        let (answer, _) = ask(&pool, line).await;
        assert!(answer.get("baseUrl").is_none(), "{line:?}: {answer}");
        let error = answer["error"].as_str().expect("error text");
        assert!(error.contains(expected), "{line:?}: {error}");
    }
    // A line that never ends is refused once 64 KiB have arrived, not waited on forever.
    let (answer, _) = ask(&pool, &"x".repeat(64 * 1024)).await;
    assert!(answer["error"]
        .as_str()
        .expect("error")
        .contains("one line"));
    let (answer, _connection) = ask(&pool, "[]\n").await;
    let base_url = answer["baseUrl"].as_str().expect("still serving");
    info(base_url).await.expect("the pool's emulator answers");
}
