//! Template recursion that can never end — an `{% include %}` loop, a macro that calls
//! itself with nothing to stop it — found before rendering, with the file and line of the
//! call. Rendering such a template would recurse until the stack overflows and the process
//! aborts with no file named (tera has no depth limit).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use tera::ast::{Expr, ExprVal, Node};

use crate::error::{Error, Result};

/// Fails on an `{% extends %}` of a template that does not exist, or a chain of them that
/// comes back to where it started; `parents` maps each template to the one it extends.
pub fn check_extends(
    parents: &BTreeMap<String, Option<String>>,
    sources: &BTreeMap<String, (PathBuf, String)>,
) -> Result<()> {
    for (name, parent) in parents {
        let Some(parent) = parent else { continue };
        let at = |file: &str, target: &str| {
            let (display, src) = &sources[file];
            let line = src
                .lines()
                .position(|l| l.contains("extends") && l.contains(target))
                .map_or(1, |i| i + 1);
            (display.clone(), line)
        };
        if !parents.contains_key(parent) {
            let (display, line) = at(name, parent);
            return Err(Error::at(
                display,
                line,
                format!("`{name}` extends `{parent}`, which does not exist"),
            )
            .hint(format!(
                "the templates are: {}",
                parents.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let mut chain = vec![name.clone()];
        let mut at_name = parent.clone();
        while let Some(next) = parents.get(&at_name) {
            chain.push(at_name.clone());
            if at_name == *name {
                let (display, line) = at(name, parent);
                return Err(Error::at(
                    display,
                    line,
                    format!(
                        "templates extend each other in a loop: {}",
                        chain.join(" → ")
                    ),
                )
                .hint("a template must not extend itself, directly or through others"));
            }
            match next {
                Some(n) if chain.len() <= parents.len() => at_name = n.clone(),
                _ => break,
            }
        }
    }
    Ok(())
}

/// Something that renders: a whole template, or one macro of a template file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Unit {
    Template(String),
    Macro {
        file: String,
        name: String,
    },
    /// An `{% include %}` without `ignore missing`: one of these must exist.
    AnyOf(Vec<String>),
}

/// A call from one unit to another; `guarded` when it sits inside `{% if %}` or `{% for %}`,
/// which may stop the recursion.
#[derive(Debug, Clone)]
struct Call {
    to: Unit,
    guarded: bool,
    /// Text to find the call by in the caller's source.
    needle: String,
}

/// Fails on the first include loop, or on a macro cycle in which no call is guarded.
pub fn check(tera: &tera::Tera, sources: &BTreeMap<String, (PathBuf, String)>) -> Result<()> {
    let mut graph: BTreeMap<Unit, Vec<Call>> = BTreeMap::new();
    for name in sources.keys() {
        let Ok(t) = tera.get_template(name) else {
            continue;
        };
        let namespaces: BTreeMap<&str, &str> = t
            .imported_macro_files
            .iter()
            .map(|(file, ns)| (ns.as_str(), file.as_str()))
            .collect();
        let resolve = |ns: &str| -> String {
            if ns == "self" {
                name.clone()
            } else {
                namespaces
                    .get(ns)
                    .map(|f| f.to_string())
                    .unwrap_or_default()
            }
        };
        let mut calls = Vec::new();
        walk(&t.ast, false, &resolve, &mut calls);
        graph.insert(Unit::Template(name.clone()), calls);
        for (mname, def) in &t.macros {
            let mut calls = Vec::new();
            walk(&def.body, false, &resolve, &mut calls);
            graph.insert(
                Unit::Macro {
                    file: name.clone(),
                    name: mname.clone(),
                },
                calls,
            );
        }
    }
    for (unit, calls) in &graph {
        for call in calls {
            if let Unit::AnyOf(names) = &call.to
                && !names.iter().any(|n| sources.contains_key(n))
            {
                let file = match unit {
                    Unit::Template(f) | Unit::Macro { file: f, .. } => f,
                    Unit::AnyOf(_) => continue,
                };
                let (display, src) = &sources[file];
                let line = src
                    .lines()
                    .position(|l| l.contains(&call.needle))
                    .map_or(1, |i| i + 1);
                return Err(Error::at(
                    display,
                    line,
                    format!("`{file}` includes `{}`, which does not exist", names.join("` or `")),
                )
                .hint("create that template, fix its name, or write `{% include \"…\" ignore missing %}`"));
            }
        }
    }
    for start in graph.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = find_cycle(&graph, start, start, &mut path, &mut BTreeSet::new()) {
            return Err(describe(&cycle, sources));
        }
    }
    Ok(())
}

/// Depth-first search for a way back to `start` whose edges make an endless loop: every
/// include counts, a macro call only when unguarded.
fn find_cycle(
    graph: &BTreeMap<Unit, Vec<Call>>,
    start: &Unit,
    at: &Unit,
    path: &mut Vec<(Unit, Call)>,
    seen: &mut BTreeSet<Unit>,
) -> Option<Vec<(Unit, Call)>> {
    for call in graph.get(at).into_iter().flatten() {
        let endless = match call.to {
            Unit::Template(_) => true,
            Unit::Macro { .. } => !call.guarded,
            Unit::AnyOf(_) => false,
        };
        if !endless {
            continue;
        }
        path.push((at.clone(), call.clone()));
        if &call.to == start {
            return Some(path.clone());
        }
        if seen.insert(call.to.clone())
            && let Some(c) = find_cycle(graph, start, &call.to, path, seen)
        {
            return Some(c);
        }
        path.pop();
    }
    None
}

fn describe(cycle: &[(Unit, Call)], sources: &BTreeMap<String, (PathBuf, String)>) -> Error {
    let (from, call) = &cycle[0];
    let file = match from {
        Unit::Template(f) | Unit::Macro { file: f, .. } => f.clone(),
        Unit::AnyOf(names) => names.join(", "),
    };
    let (display, src) = sources
        .get(&file)
        .cloned()
        .unwrap_or_else(|| (PathBuf::from(&file), String::new()));
    let line = src
        .lines()
        .position(|l| l.contains(&call.needle))
        .map(|i| i + 1)
        .unwrap_or(1);
    let name = |u: &Unit| match u {
        Unit::Template(t) => t.clone(),
        Unit::Macro { file, name } => format!("macro {name} ({file})"),
        Unit::AnyOf(names) => names.join(" or "),
    };
    let chain: Vec<String> = cycle
        .iter()
        .map(|(u, _)| name(u))
        .chain(std::iter::once(name(from)))
        .collect();
    let chain = chain.join(" → ");
    if cycle
        .iter()
        .all(|(_, c)| matches!(c.to, Unit::Macro { .. }))
    {
        Error::at(
            display,
            line,
            format!("a macro calls itself with no `{{% if %}}` or `{{% for %}}` around the call, so rendering would never end: {chain}"),
        )
        .hint("put the recursive call inside a condition that stops it")
    } else {
        Error::at(
            display,
            line,
            format!(
                "templates include each other in a loop, so rendering would never end: {chain}"
            ),
        )
        .hint("break the loop: a template must not include itself, directly or through others")
    }
}

fn walk(nodes: &[Node], guarded: bool, resolve: &dyn Fn(&str) -> String, out: &mut Vec<Call>) {
    for node in nodes {
        match node {
            Node::Include(_, names, ignore_missing) => {
                if !ignore_missing {
                    out.push(Call {
                        to: Unit::AnyOf(names.clone()),
                        guarded,
                        needle: format!("\"{}\"", names.first().cloned().unwrap_or_default()),
                    });
                }
                for n in names {
                    out.push(Call {
                        to: Unit::Template(n.clone()),
                        guarded,
                        needle: format!("\"{n}\""),
                    });
                }
            }
            Node::VariableBlock(_, e) => expr(e, guarded, resolve, out),
            Node::Set(_, s) => expr(&s.value, guarded, resolve, out),
            Node::MacroDefinition(..) => {} // walked on its own
            Node::FilterSection(_, f, _) => walk(&f.body, guarded, resolve, out),
            Node::Block(_, b, _) => walk(&b.body, guarded, resolve, out),
            Node::Forloop(_, f, _) => {
                expr(&f.container, guarded, resolve, out);
                walk(&f.body, true, resolve, out);
                if let Some(b) = &f.empty_body {
                    walk(b, true, resolve, out);
                }
            }
            Node::If(i, _) => {
                for (k, (_, cond, body)) in i.conditions.iter().enumerate() {
                    // The first condition always runs; later ones only if earlier ones fail.
                    expr(cond, guarded || k > 0, resolve, out);
                    walk(body, true, resolve, out);
                }
                if let Some((_, body)) = &i.otherwise {
                    walk(body, true, resolve, out);
                }
            }
            _ => {}
        }
    }
}

fn expr(e: &Expr, guarded: bool, resolve: &dyn Fn(&str) -> String, out: &mut Vec<Call>) {
    for f in &e.filters {
        for a in f.args.values() {
            expr(a, guarded, resolve, out);
        }
    }
    match &e.val {
        ExprVal::MacroCall(m) => {
            out.push(Call {
                to: Unit::Macro {
                    file: resolve(&m.namespace),
                    name: m.name.clone(),
                },
                guarded,
                needle: format!("{}::{}", m.namespace, m.name),
            });
            for a in m.args.values() {
                expr(a, guarded, resolve, out);
            }
        }
        ExprVal::FunctionCall(f) => {
            for a in f.args.values() {
                expr(a, guarded, resolve, out);
            }
        }
        ExprVal::Math(m) => {
            expr(&m.lhs, guarded, resolve, out);
            expr(&m.rhs, guarded, resolve, out);
        }
        ExprVal::Logic(l) => {
            expr(&l.lhs, guarded, resolve, out);
            // `a and b()`, `a or b()`: the right side may not run.
            expr(&l.rhs, true, resolve, out);
        }
        ExprVal::In(i) => {
            expr(&i.lhs, guarded, resolve, out);
            expr(&i.rhs, guarded, resolve, out);
        }
        ExprVal::Array(items) => {
            for a in items {
                expr(a, guarded, resolve, out);
            }
        }
        ExprVal::Test(t) => {
            for a in &t.args {
                expr(a, guarded, resolve, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Template name → (file shown in messages, source), as `Renderer` keeps them.
    fn sources(files: &[(&str, &str)]) -> BTreeMap<String, (PathBuf, String)> {
        files
            .iter()
            .map(|(n, s)| {
                (
                    n.to_string(),
                    (PathBuf::from(format!("templates/{n}")), s.to_string()),
                )
            })
            .collect()
    }

    fn run(files: &[(&str, &str)]) -> Result<()> {
        let sources = sources(files);
        let mut tera = tera::Tera::default();
        tera.add_raw_templates(files.iter().map(|(n, s)| (n.to_string(), s.to_string())))
            .unwrap();
        check(&tera, &sources)
    }

    #[test]
    fn include_loops_are_found_with_their_line() {
        let e = run(&[
            ("a.html", "A\n{% include \"b.html\" %}"),
            ("b.html", "B\n\n{% include \"a.html\" %}"),
        ])
        .unwrap_err();
        assert_eq!(e.file, Some(PathBuf::from("templates/a.html")));
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("a.html → b.html → a.html"), "{e}");
        let e = run(&[("a.html", "{% if x %}{% include \"a.html\" %}{% endif %}")]).unwrap_err();
        assert!(e.message.contains("include each other"), "{e}");
    }

    #[test]
    fn unguarded_macro_recursion_is_found() {
        let e = run(&[(
            "m.html",
            "{% macro m(n) %}\n{{ self::m(n=n) }}\n{% endmacro %}{{ self::m(n=1) }}",
        )])
        .unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("calls itself"), "{e}");
        // Through an imported file too.
        let e = run(&[
            ("lib.html", "{% macro a() %}{{ self::b() }}{% endmacro %}{% macro b() %}{{ self::a() }}{% endmacro %}"),
            ("page.html", "{% import \"lib.html\" as lib %}{{ lib::a() }}"),
        ])
        .unwrap_err();
        assert!(e.message.contains("macro a"), "{e}");
    }

    fn parents(files: &[(&str, &str)]) -> Result<()> {
        let sources = sources(files);
        let parents = files
            .iter()
            .map(|(n, s)| {
                (
                    n.to_string(),
                    tera::Template::new(n, None, s).unwrap().parent,
                )
            })
            .collect();
        check_extends(&parents, &sources)
    }

    #[test]
    fn extends_loops_and_missing_templates_are_found() {
        let e = parents(&[
            ("a.html", "{% extends \"b.html\" %}"),
            ("b.html", "{% extends \"a.html\" %}"),
        ])
        .unwrap_err();
        assert!(e.message.contains("a.html → b.html → a.html"), "{e}");
        let e = parents(&[("a.html", "{% extends \"nope.html\" %}")]).unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
        assert!(
            e.message.contains("`nope.html`, which does not exist"),
            "{e}"
        );
        parents(&[("a.html", "{% extends \"b.html\" %}"), ("b.html", "B")]).unwrap();
        let e = run(&[("a.html", "x\n{% include \"gone.html\" %}")]).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(
            e.message.contains("`gone.html`, which does not exist"),
            "{e}"
        );
        run(&[("a.html", "{% include \"gone.html\" ignore missing %}")]).unwrap();
    }

    #[test]
    fn guarded_recursion_and_plain_includes_pass() {
        run(&[
            (
                "tree.html",
                "{% macro tree(items) %}{% for i in items %}{{ self::tree(items=i.children) }}{% endfor %}{% endmacro %}",
            ),
            ("count.html", "{% macro down(n) %}{% if n > 0 %}{{ self::down(n=n-1) }}{% endif %}{% endmacro %}"),
            ("a.html", "{% include \"b.html\" %}{% include \"b.html\" %}"),
            ("b.html", "B"),
        ])
        .unwrap();
    }
}
