//! The appliance logs to the serial console and to the screen (tty0), so a
//! bare-metal box and a QEMU serial line both show what netagent does.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub(crate) struct Console {
    outs: Arc<Mutex<Vec<File>>>,
}

impl Console {
    pub(crate) fn open() -> Console {
        let outs = ["/dev/ttyS0", "/dev/tty0"]
            .iter()
            .filter_map(|p| OpenOptions::new().write(true).open(p).ok())
            .collect();
        Console {
            outs: Arc::new(Mutex::new(outs)),
        }
    }

    pub(crate) fn line(&self, s: &str) {
        let mut g = self.outs.lock().unwrap_or_else(|e| e.into_inner());
        for f in g.iter_mut() {
            // The serial line wants CR LF.
            let _ = f.write_all(s.replace('\n', "\r\n").as_bytes());
            let _ = f.write_all(b"\r\n");
        }
    }

    /// Copy a child's output to the consoles, line by line.
    pub(crate) fn tee(&self, from: impl Read + Send + 'static) {
        let me = self.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(from).lines().map_while(Result::ok) {
                me.line(&line);
            }
        });
    }
}

impl Write for Console {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let s = String::from_utf8_lossy(buf);
        self.line(s.trim_end_matches('\n'));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
