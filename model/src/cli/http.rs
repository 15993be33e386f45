//! A small multi-threaded HTTP server for the Explorer (`tidekv explore`).
//!
//! Stateright's own Explorer server answers one request at a time on one
//! thread: while it builds a large answer (every next step of a state with
//! thousands of them, each with its text and diagram) it answers nothing
//! else, and a request from a closed tab keeps it busy to the end. Here every
//! request gets its own thread, so a cheap request (`/.status`, the page's
//! files) is answered at once whatever else is being built; requests the
//! caller marks heavy wait for one of [`HEAVY_MAX`] permits, so a burst of
//! them cannot take every core from the checker.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tiny_http::{Header, Response, Server};

/// Heavy requests built at once; the rest wait their turn.
pub const HEAVY_MAX: usize = 2;

/// A response: status code, content type, body.
pub struct Reply {
    pub code: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(code: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            code,
            content_type,
            body: body.into(),
        }
    }

    /// A JSON body.
    pub fn json(code: u16, body: &serde_json::Value) -> Reply {
        Reply::new(code, "application/json; charset=utf-8", body.to_string())
    }
}

/// What the server calls for every request: method and URL (path and
/// query) in, reply out.
pub type Handler = dyn Fn(&str, &str) -> Reply + Send + Sync;

/// A counting semaphore: [`HEAVY_MAX`] permits.
struct Permits {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Permits {
    fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        drop(free);
        let r = f();
        *self.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.freed.notify_one();
        r
    }
}

/// Serves `handler` on `listener` until the process ends, one thread per
/// request; `heavy(url)` says which requests need a permit.
pub fn serve(
    listener: TcpListener,
    handler: Arc<Handler>,
    heavy: fn(&str) -> bool,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let server = Server::from_listener(listener, None)?;
    let permits = Arc::new(Permits {
        free: Mutex::new(HEAVY_MAX),
        freed: Condvar::new(),
    });
    loop {
        let request = server.recv()?;
        let handler = Arc::clone(&handler);
        let permits = Arc::clone(&permits);
        std::thread::spawn(move || {
            let method = request.method().as_str().to_string();
            let url = request.url().to_string();
            let reply = if heavy(&url) {
                permits.run(|| handler(&method, &url))
            } else {
                handler(&method, &url)
            };
            let header = Header::from_bytes("Content-Type", reply.content_type).expect("a valid header");
            let response = Response::from_data(reply.body)
                .with_status_code(reply.code)
                .with_header(header);
            // A client that went away is not an error of the server.
            let _ = request.respond(response);
        });
    }
}

/// The client side, for `tidekv explore`'s tests and scripts.
/// One HTTP/1.1 request without a body; returns the status code and the
/// body. Enough for the Explorer's endpoints (used by the verdict report and
/// by the tests), not a general client.
pub fn http_request(addr: SocketAddr, method: &str, path: &str, timeout: Duration) -> io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )?;
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk)?;
        buf.extend_from_slice(&chunk[..n]);
        let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            if n == 0 {
                return Err(bad("connection closed before the response headers"));
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let code: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| bad("no status code"))?;
        let header = |name: &str| {
            head.lines().find_map(|l| {
                l.strip_prefix(name)
                    .map(|v| v.trim_start_matches(':').trim().to_string())
            })
        };
        let body = &buf[head_end + 4..];
        if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            if body.len() >= len {
                return Ok((code, body[..len].to_vec()));
            }
        } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            if let Some(decoded) = dechunk(body) {
                return Ok((code, decoded));
            }
        } else if n == 0 {
            return Ok((code, body.to_vec()));
        }
        if n == 0 {
            return Err(bad("connection closed before the end of the body"));
        }
    }
}

/// Decodes a complete chunked body; `None` while incomplete.
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if body.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_decode_once_complete() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), Some(b"abcde".to_vec()));
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nd"), None);
    }

    use std::sync::mpsc::channel;
    use std::time::Instant;

    /// While one request is being built (here: blocked until the test lets
    /// it go), another is answered: the property stateright's one-thread
    /// server lacks.
    #[test]
    fn a_slow_request_does_not_hold_up_others() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (release, wait) = channel::<()>();
        let wait = Mutex::new(wait);
        let handler: Arc<Handler> = Arc::new(move |_, url| {
            if url == "/slow" {
                let _ = wait.lock().unwrap().recv_timeout(Duration::from_secs(60));
            }
            Reply::new(200, "text/plain", url.as_bytes().to_vec())
        });
        std::thread::spawn(move || serve(listener, handler, |url| url == "/slow"));
        let slow = std::thread::spawn(move || http_request(addr, "GET", "/slow", Duration::from_secs(90)));
        std::thread::sleep(Duration::from_millis(200));
        let start = Instant::now();
        let (code, body) = http_request(addr, "GET", "/fast", Duration::from_secs(30)).unwrap();
        assert_eq!((code, body.as_slice()), (200, &b"/fast"[..]));
        // The slow request is still held: the fast one did not wait for it.
        assert!(!slow.is_finished(), "the slow request was answered first");
        assert!(start.elapsed() < Duration::from_secs(30));
        release.send(()).unwrap();
        let (code, body) = slow.join().unwrap().unwrap();
        assert_eq!((code, body.as_slice()), (200, &b"/slow"[..]));
    }
}
