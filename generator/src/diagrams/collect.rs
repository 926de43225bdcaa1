//! Gathering the site's diagrams: fences while a page's markdown renders, files under
//! `content/`, one ER diagram per database; then ids checked and each diagram tied to the
//! page that shows it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use wasm_query::manifest::Database;
use wasm_query::search::escape_html as escape;

use super::{
    Diagram, DiagramFile, Kind, anchor, default_id, page_slug, parse_fence_attributes, read_file,
    render, valid_id,
};
use crate::error::{Error, Result};
use crate::load::Page;

/// The `<figure>` a page shows for a diagram.
pub fn figure_html(d: &Diagram) -> String {
    let caption = if d.caption.is_empty() {
        String::new()
    } else {
        format!(
            " <span class=\"diagram-caption\">{}</span>",
            escape(&d.caption)
        )
    };
    format!(
        "<figure class=\"diagram diagram-{kind}\" id=\"{anchor}\">{svg}<figcaption><strong class=\"diagram-title\">{title}</strong>{caption} <a class=\"diagram-source\" href=\"/diagrams/{id}/\">Source</a></figcaption></figure>\n",
        kind = d.kind.slug(),
        anchor = d.anchor(),
        svg = d.svg,
        title = escape(&d.title),
        id = d.id,
    )
}

fn check_id(id: &str, file: &Path, line: usize) -> Result<()> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(Error::at(file, line, format!("`{id}` is not a diagram id"))
            .hint("use lowercase letters, digits and dashes, such as id=\"cdn-request-flow\""))
    }
}

/// The diagrams of one page, found while its markdown renders.
pub struct PageDiagrams<'a> {
    page: &'a Page,
    page_title: String,
    files: &'a BTreeMap<String, Diagram>,
    found: Mutex<Vec<Diagram>>,
    embeds: Mutex<Vec<String>>,
}

impl<'a> PageDiagrams<'a> {
    /// Collects for `page`; `files` are the file diagrams by content-relative path.
    pub fn new(page: &'a Page, page_title: String, files: &'a BTreeMap<String, Diagram>) -> Self {
        PageDiagrams {
            page,
            page_title,
            files,
            found: Mutex::new(Vec::new()),
            embeds: Mutex::new(Vec::new()),
        }
    }

    /// The fence handler: `None` unless `lang` is a diagram language.
    pub fn fence(&self, lang: &str, rest: &str, code: &str, line: usize) -> Option<Result<String>> {
        let kind = Kind::from_fence(lang)?;
        Some(self.draw(kind, rest, code, line))
    }

    fn draw(&self, kind: Kind, rest: &str, code: &str, line: usize) -> Result<String> {
        let display = &self.page.display;
        let attrs = parse_fence_attributes(rest).map_err(|m| {
            Error::at(display, line, format!("diagram fence `{rest}`: {m}"))
                .hint("write attributes after the language as title=\"…\" caption=\"…\" id=\"…\"")
        })?;
        let mut found = self.found.lock().expect("not poisoned");
        let n = found.len() + 1;
        let id = match attrs.id {
            Some(id) => {
                check_id(&id, display, line)?;
                id
            }
            None => default_id(attrs.title.as_deref(), &page_slug(&self.page.url), n),
        };
        let title = attrs
            .title
            .unwrap_or_else(|| format!("{} diagram {n} on “{}”", kind.label(), self.page_title));
        let svg = render(kind, code, &id, &title, display, line)?;
        let d = Diagram {
            page_url: format!("{}#{}", self.page.url, anchor(&id)),
            page_title: self.page_title.clone(),
            id,
            kind,
            title,
            caption: attrs.caption.unwrap_or_default(),
            source: code.to_string(),
            svg,
            file: display.display().to_string(),
            line,
        };
        let html = figure_html(&d);
        found.push(d);
        Ok(html)
    }

    /// The `{{ diagram(src="…") }}` shortcode: shows a diagram file on this page.
    pub fn embed(&self, src: &str, line: usize) -> Result<String> {
        let key = src.trim_start_matches('/');
        let d = self.files.get(key).ok_or_else(|| {
            let known: Vec<&str> = self.files.keys().map(String::as_str).collect();
            Error::at(&self.page.display, line, format!("there is no diagram file `{src}` in the content folder"))
                .hint(if known.is_empty() {
                    "diagram files end in .dot, .gv, .bob, .mmd or .mermaid; src is relative to the content folder".to_string()
                } else {
                    format!("src is relative to the content folder; the diagram files are: {}", known.join(", "))
                })
        })?;
        let mut embeds = self.embeds.lock().expect("not poisoned");
        if embeds.contains(&d.id) {
            return Err(Error::at(
                &self.page.display,
                line,
                format!("`{src}` is already shown on this page"),
            )
            .hint("show a diagram once per page; link to its anchor to refer to it again"));
        }
        embeds.push(d.id.clone());
        Ok(figure_html(d))
    }

    /// The diagrams drawn on the page and the ids of the files it embeds.
    pub fn finish(self) -> (Vec<Diagram>, Vec<String>) {
        (
            self.found.into_inner().expect("not poisoned"),
            self.embeds.into_inner().expect("not poisoned"),
        )
    }
}

/// Renders one diagram file; its page is its own gallery page until a page embeds it.
pub fn render_file(content_display: &Path, f: &DiagramFile) -> Result<Diagram> {
    let display = content_display.join(&f.rel);
    let src = read_file(&display, &f.path)?;
    let stem = f
        .rel
        .rsplit('/')
        .next()
        .unwrap_or(&f.rel)
        .rsplit_once('.')
        .map(|(s, _)| s)
        .unwrap_or(&f.rel)
        .to_string();
    let id = match src.attrs.id {
        Some(id) => {
            check_id(&id, &display, 1)?;
            id
        }
        None => {
            default_id(src.attrs.title.as_deref(), &page_slug(&stem), 1).replace("-diagram-1", "")
        }
    };
    let title = src.attrs.title.unwrap_or_else(|| stem.clone());
    let svg = render(f.kind, &src.text, &id, &title, &display, 1)?;
    Ok(Diagram {
        page_url: format!("/diagrams/{id}/"),
        page_title: title.clone(),
        id,
        kind: f.kind,
        title,
        caption: src.attrs.caption.unwrap_or_default(),
        source: src.text,
        svg,
        file: display.display().to_string(),
        line: 1,
    })
}

/// The ER diagram of database `name`, shown on the SQL console page.
pub fn er_diagram(name: &str, schema: &Database) -> Result<Diagram> {
    let id = format!("er-{}", page_slug(name));
    let title = format!("Schema of the {name} database");
    let source = super::er::dot(name, schema);
    let svg = render(Kind::Er, &source, &id, &title, Path::new("(ER diagram)"), 1)?;
    Ok(Diagram {
        page_url: format!("/sql/#{}", anchor(&id)),
        page_title: "SQL console".into(),
        id,
        kind: Kind::Er,
        title,
        caption: format!(
            "Tables, columns with their types, primary keys (PK) and foreign keys (FK) of `{name}`, drawn from the baked schema."
        ),
        source,
        svg,
        file: format!("(database {name})"),
        line: 1,
    })
}

/// Ties each file diagram to the first page that embeds it, then puts every diagram in
/// one list: pages in order, then files, then ER (ids are checked by the caller).
pub fn assemble(
    pages: &[(&Page, String, Vec<Diagram>, Vec<String>)],
    files: BTreeMap<String, Diagram>,
    er: Vec<Diagram>,
) -> Vec<Diagram> {
    let mut all: Vec<Diagram> = Vec::new();
    let mut files: Vec<Diagram> = files.into_values().collect();
    for (page, title, found, embeds) in pages {
        all.extend(found.iter().cloned());
        for id in embeds {
            if let Some(f) = files
                .iter_mut()
                .find(|f| &f.id == id && f.page_url.starts_with("/diagrams/"))
            {
                f.page_url = format!("{}#{}", page.url, anchor(id));
                f.page_title = title.clone();
            }
        }
    }
    all.extend(files);
    all.extend(er);
    all
}
