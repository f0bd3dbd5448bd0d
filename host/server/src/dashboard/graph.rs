//! A run's workflow drawn as an inline SVG: `layout-rs` places the nodes and routes the
//! edges (a layered layout, as Graphviz's `dot`), and [`Canvas`] writes what it draws
//! with our own markup: each node a `<g data-node="NAME">`, the current node(s) with
//! class `current` and `aria-current="step"`, so that the page's script and a browser
//! test find them; and a text legend under it, since a colour alone says nothing to
//! many readers.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use layout::core::base::Orientation;
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::Point;
use layout::core::style::StyleAttr;
use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
use layout::topo::layout::VisualGraph;
use serde_json::Value;

use super::html::esc;

/// The name the graph gives the end of a run (no node may be called so).
pub(super) const END: &str = "end";

/// A workflow's nodes and edges, as [`Backend::run_graph`](crate::api::Backend::run_graph)
/// gives them.
#[derive(Debug, Default, Clone)]
pub(super) struct Graph {
    /// Node name -> plugin name, in the workflow's order.
    pub(super) nodes: Vec<(String, String)>,
    pub(super) edges: Vec<GraphEdge>,
}

#[derive(Debug, Clone)]
pub(super) struct GraphEdge {
    from: String,
    to: String,
    choice: EdgeKind,
}

/// Whether an edge is always taken or one the node picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EdgeKind {
    /// `next`: always taken (several: in parallel).
    Next,
    /// One of the node's `routes`: taken when the node picks it.
    Route,
}

impl Graph {
    /// What identifies the graph's layout: its nodes and edges.
    fn key(&self) -> String {
        let mut text = String::new();
        for (name, _) in &self.nodes {
            let _ = writeln!(text, "{}:{name}", name.len());
        }
        for edge in &self.edges {
            let kind = match edge.choice {
                EdgeKind::Next => "next",
                EdgeKind::Route => "route",
            };
            let _ = writeln!(
                text,
                "{}:{}>{}:{}/{kind}",
                edge.from.len(),
                edge.from,
                edge.to.len(),
                edge.to
            );
        }
        savepoint_base::digest::sha256(text.as_bytes())
    }

    pub(super) fn from_json(value: &Value) -> Graph {
        let text = |v: &Value, key: &str| v[key].as_str().unwrap_or_default().to_string();
        let list = |key: &str| value[key].as_array().cloned().unwrap_or_default();
        Graph {
            nodes: list("nodes")
                .iter()
                .map(|node| (text(node, "name"), text(node, "plugin")))
                .collect(),
            edges: list("edges")
                .iter()
                .map(|edge| GraphEdge {
                    from: text(edge, "from"),
                    to: text(edge, "to"),
                    choice: match edge["route"].as_bool() {
                        Some(true) => EdgeKind::Route,
                        _ => EdgeKind::Next,
                    },
                })
                .collect(),
        }
    }
}

/// The graph's `<figure id="graph">`: the SVG and, under it, the legend that says in
/// words which node(s) the run is at (`Current: review (interrupted)`), and how many
/// sends of each node (fan-out) are still to run (`split: 3 sends pending`).
pub(super) async fn figure(
    graph: &Graph,
    current: &[String],
    sends: &BTreeMap<String, usize>,
    status: &str,
) -> String {
    let svg = match laid_out(graph).await {
        Some(canvas) => canvas.draw(graph, current, sends, status),
        // The legend and the lists below still say where the run is.
        None => format!(
            "<p class=\"muted\">The graph of {} nodes is not drawn.</p>",
            graph.nodes.len()
        ),
    };
    let at = match current {
        [] => "none".to_string(),
        nodes => nodes
            .iter()
            .map(|node| match sends.get(node) {
                Some(&count) => format!("{node}: {}", pending(count)),
                None => node.clone(),
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    format!(
        "<figure id=\"graph\">\n{svg}\n<figcaption id=\"graph-legend\">Current: {} ({})\
         <span class=\"key\"> · solid arrow: always next; dashed: a route the node \
         chooses</span></figcaption>\n</figure>\n",
        esc(at),
        esc(status)
    )
}

/// `3 sends pending`.
fn pending(count: usize) -> String {
    match count {
        1 => "1 send pending".to_string(),
        n => format!("{n} sends pending"),
    }
}

/// Graphs with more nodes are laid out without `layout-rs`'s crossing reduction, and
/// graphs with more than [`MAX_NODES`] not at all: its layout time grows much faster
/// than the node count (a debug build, a chain with a loop back and a route to the
/// end every 7 nodes: 10 nodes 1 ms, 30 nodes 15-30 ms, 60 nodes 250 ms, 120 nodes 4 s;
/// without the optimizer 60 nodes take 35 ms, 120 nodes 0.6 s and 150 nodes 4 s:
/// `dashboard::tests::graph::layout_time`). Each graph is laid out once per process
/// ([`LAYOUTS`]).
const OPTIMIZE_UP_TO: usize = 40;
const MAX_NODES: usize = 100;

/// Layouts by the graph they are of (a digest of its nodes and edges): a run's page is
/// asked for again at every event its script sees, and all runs of one workflow
/// version share a graph. At most [`KEPT`] are kept; then the cache starts over.
static LAYOUTS: LazyLock<Mutex<HashMap<String, Option<Arc<Canvas>>>>> =
    LazyLock::new(Default::default);
const KEPT: usize = 64;

/// `graph` laid out, from the cache or off the async threads; `None` when it is too
/// large, or the layout failed.
async fn laid_out(graph: &Graph) -> Option<Arc<Canvas>> {
    let key = graph.key();
    if let Some(canvas) = lock(&LAYOUTS).get(&key) {
        return canvas.clone();
    }
    let owned = graph.clone();
    let canvas = tokio::task::spawn_blocking(move || {
        // A graph the layout cannot place must not take the page down.
        std::panic::catch_unwind(|| layout(&owned)).ok().flatten()
    })
    .await
    .ok()
    .flatten()
    .map(Arc::new);
    let mut layouts = lock(&LAYOUTS);
    if layouts.len() >= KEPT {
        layouts.clear();
    }
    layouts.insert(key, canvas.clone());
    canvas
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Font size of node labels, and the width of one character at it (a monospace font,
/// so that the boxes fit their labels without measuring text).
const FONT: f64 = 14.;
const CHAR: f64 = 8.5;

fn layout(graph: &Graph) -> Option<Canvas> {
    if graph.nodes.len() > MAX_NODES {
        return None;
    }
    let mut visual = VisualGraph::new(Orientation::LeftToRight);
    let mut handles = BTreeMap::new();
    let add = |visual: &mut VisualGraph, name: &str, shape: ShapeKind| {
        let chars = name.chars().count().max(3) as f64 + 2.;
        let size = Point::new(chars * CHAR + 28., FONT + 22.);
        let element = Element::create_with_properties(
            shape,
            StyleAttr::simple(),
            Orientation::LeftToRight,
            size,
            name,
        );
        visual.add_node(element)
    };
    for (name, _) in &graph.nodes {
        let handle = add(&mut visual, name, ShapeKind::new_box(name));
        handles.insert(name.as_str(), handle);
    }
    if graph.edges.iter().any(|edge| edge.to == END) {
        let handle = add(&mut visual, END, ShapeKind::new_circle(END));
        handles.insert(END, handle);
    }
    for edge in &graph.edges {
        let (Some(&from), Some(&to)) = (
            handles.get(edge.from.as_str()),
            handles.get(edge.to.as_str()),
        ) else {
            continue;
        };
        let mut arrow = Arrow::simple("");
        arrow.end = LineEndKind::Arrow;
        arrow.properties = Some(match edge.choice {
            EdgeKind::Next => "next".to_string(),
            EdgeKind::Route => "route".to_string(),
        });
        visual.add_edge(arrow, from, to);
    }
    let mut canvas = Canvas::default();
    let skip_optimizer = graph.nodes.len() > OPTIMIZE_UP_TO;
    visual.do_it(false, skip_optimizer, false, &mut canvas);
    Some(canvas)
}

/// What `layout-rs` draws, kept to be written as our markup.
#[derive(Debug, Default)]
struct Canvas {
    /// Node name -> its box (top left, size); the end as a circle (centre, size).
    boxes: Vec<(String, Point, Point, Shape)>,
    /// Each edge: its path (`M x y C ... S ...`) and whether it is a route.
    paths: Vec<(String, bool)>,
    min: Option<Point>,
    max: Option<Point>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Box,
    Circle,
}

impl Canvas {
    fn grow(&mut self, point: Point) {
        let min = self.min.get_or_insert(point);
        *min = Point::new(min.x.min(point.x), min.y.min(point.y));
        let max = self.max.get_or_insert(point);
        *max = Point::new(max.x.max(point.x), max.y.max(point.y));
    }

    /// The SVG, with `current` marked; `status` (the run's) styles the current node
    /// (parked, failed and finished runs look different at a glance; the legend and
    /// the node's ▶ say it in words).
    fn draw(
        &self,
        graph: &Graph,
        current: &[String],
        sends: &BTreeMap<String, usize>,
        status: &str,
    ) -> String {
        let pad = 8.;
        let min = self.min.unwrap_or(Point::zero());
        let max = self.max.unwrap_or(Point::zero());
        let (x, y) = (min.x - pad, min.y - pad);
        let (width, height) = (max.x - min.x + 2. * pad, max.y - min.y + 2. * pad);
        let mut out = String::new();
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"{x:.0} {y:.0} {width:.0} \
             {height:.0}\" width=\"{width:.0}\" height=\"{height:.0}\" \
             data-status=\"{status}\" aria-labelledby=\"graph-legend\">\n\
             <defs><marker id=\"arrowhead\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" \
             markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
             <path d=\"M 0 0 L 10 5 L 0 10 z\" class=\"arrowhead\"/></marker></defs>\n",
            status = esc(status),
        );
        for (path, route) in &self.paths {
            let class = if *route { "edge route" } else { "edge" };
            let _ = writeln!(
                out,
                "<path class=\"{class}\" d=\"{path}\" marker-end=\"url(#arrowhead)\"/>"
            );
        }
        let plugins: BTreeMap<&str, &str> = graph
            .nodes
            .iter()
            .map(|(name, plugin)| (name.as_str(), plugin.as_str()))
            .collect();
        for (name, at, size, shape) in &self.boxes {
            let is_current = current.iter().any(|node| node == name);
            let (class, aria) = match is_current {
                true => ("node current", " aria-current=\"step\""),
                false => ("node", ""),
            };
            let mut title = match plugins.get(name.as_str()) {
                Some(plugin) if plugin != name => format!("{name} (plugin {plugin})"),
                _ => name.clone(),
            };
            let pending_sends = sends.get(name.as_str()).copied();
            let data_sends = match pending_sends {
                Some(count) => {
                    title.push_str(&format!(": {}", pending(count)));
                    format!(" data-sends=\"{count}\"")
                }
                None => String::new(),
            };
            let _ = write!(
                out,
                "<g class=\"{class}\" data-node=\"{}\"{data_sends}{aria}><title>{}</title>",
                esc(name),
                esc(title)
            );
            let (cx, cy) = (at.x + size.x / 2., at.y + size.y / 2.);
            match shape {
                Shape::Box => {
                    let _ = write!(
                        out,
                        "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"6\"/>",
                        at.x, at.y, size.x, size.y
                    );
                }
                Shape::Circle => {
                    let _ = write!(
                        out,
                        "<ellipse cx=\"{cx:.1}\" cy=\"{cy:.1}\" rx=\"{:.1}\" ry=\"{:.1}\"/>",
                        size.x / 2.,
                        size.y / 2.
                    );
                }
            }
            // The current node says so in its label too (not by colour alone).
            let mark = if is_current { "▶ " } else { "" };
            let _ = write!(
                out,
                "<text x=\"{cx:.1}\" y=\"{cy:.1}\">{mark}{}</text>",
                esc(name)
            );
            // A fan-out's pending sends, counted in the box's top right corner (in
            // words too: the legend and the title).
            if let Some(count) = pending_sends {
                let _ = write!(
                    out,
                    "<text class=\"sends\" x=\"{:.1}\" y=\"{:.1}\">×{count}</text>",
                    at.x + size.x - 4.,
                    at.y + 9.
                );
            }
            out.push_str("</g>\n");
        }
        out.push_str("</svg>");
        out
    }
}

impl RenderBackend for Canvas {
    fn draw_rect(
        &mut self,
        xy: Point,
        size: Point,
        _look: &StyleAttr,
        properties: Option<String>,
        _clip: Option<ClipHandle>,
    ) {
        self.grow(xy);
        self.grow(xy.add(size));
        if let Some(name) = properties {
            self.boxes.push((name, xy, size, Shape::Box));
        }
    }

    fn draw_line(&mut self, start: Point, stop: Point, _: &StyleAttr, _: Option<String>) {
        self.grow(start);
        self.grow(stop);
    }

    fn draw_circle(
        &mut self,
        xy: Point,
        size: Point,
        _look: &StyleAttr,
        properties: Option<String>,
    ) {
        // `xy` is the centre.
        let corner = Point::new(xy.x - size.x / 2., xy.y - size.y / 2.);
        self.grow(corner);
        self.grow(corner.add(size));
        if let Some(name) = properties {
            self.boxes.push((name, corner, size, Shape::Circle));
        }
    }

    fn draw_text(&mut self, _xy: Point, _text: &str, _look: &StyleAttr) {
        // Labels are the node names, written with each node's group.
    }

    fn draw_arrow(
        &mut self,
        path: &[(Point, Point)],
        _dashed: bool,
        _head: (bool, bool),
        _look: &StyleAttr,
        properties: Option<String>,
        _text: &str,
    ) {
        // Cubic Béziers, written as `layout-rs`'s own SVG writes them: the first pair is
        // (start, its control point), each later pair (control point, point).
        let [first, second, rest @ ..] = path else {
            return;
        };
        for (a, b) in path {
            self.grow(*a);
            self.grow(*b);
        }
        let mut d = format!(
            "M {:.1} {:.1} C {:.1} {:.1}, {:.1} {:.1}, {:.1} {:.1}",
            first.0.x,
            first.0.y,
            first.1.x,
            first.1.y,
            second.0.x,
            second.0.y,
            second.1.x,
            second.1.y
        );
        for (control, point) in rest {
            let _ = write!(
                d,
                " S {:.1} {:.1}, {:.1} {:.1}",
                control.x, control.y, point.x, point.y
            );
        }
        self.paths.push((d, properties.as_deref() == Some("route")));
    }

    fn create_clip(&mut self, _xy: Point, _size: Point, _rounded: usize) -> ClipHandle {
        0
    }
}
