//! A small XML writer for Query protocol responses.

pub struct XmlWriter {
    out: String,
}

impl XmlWriter {
    pub fn new() -> Self {
        Self { out: String::from("<?xml version=\"1.0\"?>") }
    }

    pub fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    pub fn open_with_namespace(&mut self, name: &str, namespace: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str(" xmlns=\"");
        self.out.push_str(namespace);
        self.out.push_str("\">");
    }

    pub fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    pub fn element(&mut self, name: &str, text: &str) {
        self.open(name);
        escape_into(text, &mut self.out);
        self.close(name);
    }

    pub fn empty(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str("/>");
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Escapes text content. Carriage returns become character references so
/// that XML parsers do not fold them into line feeds.
fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_carriage_returns() {
        let mut writer = XmlWriter::new();
        writer.element("Body", "a<b & \"c\"\r\n");
        assert_eq!(writer.finish(), "<?xml version=\"1.0\"?><Body>a&lt;b &amp; &quot;c&quot;&#xD;\n</Body>");
    }
}
