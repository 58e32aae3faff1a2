//! The tables the commands print, laid out as virsh lays out its own.

/// Columns padded to their widest cell under a dashed rule, as virsh prints.
pub fn grid(head: &[&str], cells: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for c in cells {
        for (w, v) in width.iter_mut().zip(c) {
            *w = (*w).max(v.len());
        }
    }
    let line = |v: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, (x, w)) in v.iter().zip(&width).enumerate() {
            if i + 1 == v.len() {
                s.push_str(x);
            } else {
                s.push_str(&format!("{x:<w$}   "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(head.to_vec());
    out.push_str(&"-".repeat(width.iter().sum::<usize>() + 3 * (width.len().saturating_sub(1))));
    out.push('\n');
    for c in cells {
        out.push_str(&line(c.iter().map(|s| s.as_str()).collect()));
    }
    out
}
