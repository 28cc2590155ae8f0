//! The XML plumbing both messages share: a tiny escaping writer, and a reader over `roxmltree`
//! that names every element by its path so that each refusal says where.

use roxmltree::{Document, Node, ParsingOptions};

use crate::error::{RailError, excerpt};

/// The largest message accepted, in bytes. Our largest pacs.008 is under 4 KiB; the limit keeps
/// hostile input from costing memory and time.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Writes an indented XML document. Elements are opened and closed by one call, so tags always
/// balance; every text and attribute value is escaped.
pub(crate) struct XmlWriter {
    out: String,
    depth: usize,
}

impl XmlWriter {
    /// A document whose root element `root` declares `namespace` as its default namespace.
    pub(crate) fn document(
        root: &str,
        namespace: &str,
        body: impl FnOnce(&mut XmlWriter),
    ) -> String {
        let mut writer = XmlWriter {
            out: String::with_capacity(2048),
            depth: 0,
        };
        writer
            .out
            .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
        writer.out.push_str(root);
        writer.out.push_str(" xmlns=\"");
        escape_into(&mut writer.out, namespace);
        writer.out.push_str("\">\n");
        writer.depth = 1;
        body(&mut writer);
        writer.out.push_str("</");
        writer.out.push_str(root);
        writer.out.push_str(">\n");
        writer.out
    }

    /// An element holding other elements.
    pub(crate) fn element(&mut self, name: &str, body: impl FnOnce(&mut XmlWriter)) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str(">\n");
        self.depth += 1;
        body(self);
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    /// An element holding text.
    pub(crate) fn leaf(&mut self, name: &str, text: &str) {
        self.leaf_with_attribute(name, None, text);
    }

    /// An element holding text, with one attribute when `attribute` is `(name, value)`.
    pub(crate) fn leaf_with_attribute(
        &mut self,
        name: &str,
        attribute: Option<(&str, &str)>,
        text: &str,
    ) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        if let Some((attr, value)) = attribute {
            self.out.push(' ');
            self.out.push_str(attr);
            self.out.push_str("=\"");
            escape_into(&mut self.out, value);
            self.out.push('"');
        }
        self.out.push('>');
        escape_into(&mut self.out, text);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }
}

/// Escapes the five XML special characters, so the same function is safe for text and for
/// attribute values in either quote. Control characters never get here: the value types refuse
/// them, because XML 1.0 cannot carry most of them and a parser rewrites the rest.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            other => out.push(other),
        }
    }
}

/// Bytes to text, refusing oversize input before looking at it and then anything not UTF-8.
pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, RailError> {
    check_size(bytes.len())?;
    std::str::from_utf8(bytes).map_err(|e| RailError::NotUtf8 {
        valid_up_to: e.valid_up_to(),
    })
}

/// Parses a whole document: refuses oversize input first, then anything not well-formed; a DTD
/// is refused too (`roxmltree`'s default), so no entity can expand.
pub(crate) fn parse(xml: &str) -> Result<Document<'_>, RailError> {
    check_size(xml.len())?;
    let options = ParsingOptions {
        allow_dtd: false,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(xml, options).map_err(|e| RailError::NotXml {
        reason: e.to_string(),
    })
}

fn check_size(bytes: usize) -> Result<(), RailError> {
    if bytes > MAX_MESSAGE_BYTES {
        return Err(RailError::TooLarge {
            bytes,
            max: MAX_MESSAGE_BYTES,
        });
    }
    Ok(())
}

/// An element of a message in our namespace, with its path from the root.
pub(crate) struct Element<'a, 'input> {
    node: Node<'a, 'input>,
    namespace: &'static str,
    path: String,
}

impl<'a, 'input> Element<'a, 'input> {
    /// The root element, if it is `root` in `namespace`.
    pub(crate) fn root(
        doc: &'a Document<'input>,
        root: &'static str,
        namespace: &'static str,
    ) -> Result<Self, RailError> {
        let node = doc.root_element();
        let name = node.tag_name();
        if name.name() != root {
            return Err(RailError::WrongRoot {
                expected: root,
                found: excerpt(name.name()),
            });
        }
        if name.namespace() != Some(namespace) {
            return Err(RailError::WrongNamespace {
                expected: namespace,
                found: excerpt(name.namespace().unwrap_or_default()),
            });
        }
        Ok(Self {
            node,
            namespace,
            path: format!("/{root}"),
        })
    }

    /// The path of this element.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The path of a child called `name`, present or not.
    pub(crate) fn path_of(&self, name: &str) -> String {
        format!("{}/{name}", self.path)
    }

    /// Every child element called `name` in our namespace. Elements we do not read (other
    /// optional ISO elements, other namespaces) are ignored.
    pub(crate) fn children(&self, name: &str) -> Vec<Element<'a, 'input>> {
        self.node
            .children()
            .filter(|n| {
                n.is_element()
                    && n.tag_name().name() == name
                    && n.tag_name().namespace() == Some(self.namespace)
            })
            .map(|node| Element {
                node,
                namespace: self.namespace,
                path: self.path_of(name),
            })
            .collect()
    }

    /// The child called `name`, if there is at most one.
    pub(crate) fn optional(&self, name: &str) -> Result<Option<Element<'a, 'input>>, RailError> {
        let mut found = self.children(name);
        if found.len() > 1 {
            return Err(RailError::RepeatedElement {
                at: self.path_of(name),
                count: found.len(),
            });
        }
        Ok(found.pop())
    }

    /// The one child called `name`.
    pub(crate) fn child(&self, name: &str) -> Result<Element<'a, 'input>, RailError> {
        self.optional(name)?
            .ok_or_else(|| RailError::MissingElement {
                at: self.path_of(name),
            })
    }

    /// The one transaction of a message: refuses none (missing) and more than one.
    pub(crate) fn transaction(&self, name: &str) -> Result<Element<'a, 'input>, RailError> {
        let mut found = self.children(name);
        if found.len() > 1 {
            return Err(RailError::MoreThanOneTransaction {
                at: self.path_of(name),
                count: found.len(),
            });
        }
        found.pop().ok_or_else(|| RailError::MissingElement {
            at: self.path_of(name),
        })
    }

    /// The text of the element (all its text and CDATA, comments skipped). An element inside is
    /// refused: a value is never structured.
    pub(crate) fn text(&self) -> Result<String, RailError> {
        if let Some(child) = self.node.children().find(Node::is_element) {
            return Err(RailError::ElementInText {
                at: self.path.clone(),
                child: excerpt(child.tag_name().name()),
            });
        }
        Ok(self
            .node
            .children()
            .filter(Node::is_text)
            .filter_map(|n| n.text())
            .collect())
    }

    /// The text of the one child called `name`, read by `parse(text, path)`.
    pub(crate) fn value<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str, &str) -> Result<T, RailError>,
    ) -> Result<T, RailError> {
        let child = self.child(name)?;
        let text = child.text()?;
        parse(&text, child.path())
    }

    /// Refuses the one child called `name` unless its text is exactly `expected`.
    pub(crate) fn require(&self, name: &str, expected: &'static str) -> Result<(), RailError> {
        self.value(name, |text, at| {
            if text == expected {
                Ok(())
            } else {
                Err(RailError::UnexpectedValue {
                    at: at.to_owned(),
                    expected,
                    found: excerpt(text),
                })
            }
        })
    }

    /// The attribute `name` (unqualified).
    pub(crate) fn attribute(&self, name: &str) -> Result<&'a str, RailError> {
        self.node
            .attribute(name)
            .ok_or_else(|| RailError::MissingAttribute {
                at: format!("{}/@{name}", self.path),
            })
    }
}
