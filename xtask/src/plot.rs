//! The plot of `cargo xtask bench`: time until k pods run against k, for the agent and its
//! floor on each backend (the scale phase's N pods written at once), with the peers' start of
//! one pod where the bench has one. Hand-drawn SVG: a few polylines need no plotting crate.

use serde_json::Value;

const WIDTH: f64 = 780.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 230.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 48.0;

/// One line of the plot: the k-th value is the milliseconds until k pods ran.
struct Series {
    label: String,
    color: &'static str,
    dashed: bool,
    ms: Vec<f64>,
}

/// The SVG of the `backends` section of a bench report; `None` when no backend has a curve.
pub fn time_to_running(backends: &Value, title: &str) -> Option<String> {
    let mut series = Vec::new();
    let mut peers = Vec::new();
    let colors = [
        ("docker", "#1f77b4"),
        ("cri", "#2ca02c"),
        ("podman", "#9467bd"),
    ];
    for (name, color) in colors {
        let Some(backend) = backends.get(name) else {
            continue;
        };
        for (who, dashed) in [("agent", false), ("floor", true)] {
            let ms: Vec<f64> = backend["scale"][format!("{who}_running_ms")]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_f64)
                .collect();
            if !ms.is_empty() {
                series.push(Series {
                    label: format!("{name} {who}"),
                    color,
                    dashed,
                    ms,
                });
            }
        }
        let peer = &backend["latency"]["one"];
        if let (Some(label), Some(ms)) = (
            peer["peer"].as_str(),
            peer["peer_times"]["start"]["median_ms"].as_f64(),
        ) {
            peers.push((format!("{name}: {label}, 1 pod"), color, ms));
        }
    }
    let pods = series.iter().map(|s| s.ms.len()).max()?;
    let top_ms = series
        .iter()
        .flat_map(|s| s.ms.iter().copied())
        .chain(peers.iter().map(|p| p.2))
        .fold(1.0, f64::max);
    let x = |k: f64| LEFT + (k - 1.0).max(0.0) / (pods.max(2) - 1) as f64 * (WIDTH - LEFT - RIGHT);
    let y = |ms: f64| HEIGHT - BOTTOM - ms / top_ms * (HEIGHT - TOP - BOTTOM);

    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{LEFT}\" y=\"20\" font-size=\"14\">{}</text>\n",
        escape(title)
    );
    // Axes with five ticks each.
    let (x0, y0, x1, y1) = (LEFT, HEIGHT - BOTTOM, WIDTH - RIGHT, TOP);
    svg.push_str(&format!(
        "<path d=\"M{x0} {y1} L{x0} {y0} L{x1} {y0}\" stroke=\"black\" fill=\"none\"/>\n"
    ));
    for i in 0..=4 {
        let k = 1.0 + (pods - 1) as f64 * f64::from(i) / 4.0;
        let ms = top_ms * f64::from(i) / 4.0;
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:.0}</text>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{:.1}</text>\n",
            x(k),
            y0 + 16.0,
            k,
            x0 - 6.0,
            y(ms) + 4.0,
            ms / 1e3
        ));
    }
    svg.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">pods running (written at once)</text>\n<text x=\"14\" y=\"{:.1}\" transform=\"rotate(-90 14 {:.1})\" text-anchor=\"middle\">seconds since the manifests were written</text>\n",
        (x0 + x1) / 2.0,
        HEIGHT - 10.0,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0
    ));
    for (i, s) in series.iter().enumerate() {
        let points: Vec<String> =
            s.ms.iter()
                .enumerate()
                .map(|(k, &ms)| format!("{:.1},{:.1}", x(k as f64 + 1.0), y(ms)))
                .collect();
        let dash = if s.dashed {
            " stroke-dasharray=\"5 4\""
        } else {
            ""
        };
        svg.push_str(&format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{dash}/>\n",
            points.join(" "),
            s.color
        ));
        legend(&mut svg, i, &s.label, s.color, dash);
    }
    for (j, (label, color, ms)) in peers.iter().enumerate() {
        svg.push_str(&format!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{color}\"/>\n",
            x(1.0),
            y(*ms)
        ));
        let row = series.len() + j;
        let ly = TOP + 18.0 * row as f64;
        svg.push_str(&format!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
            WIDTH - RIGHT + 23.0,
            ly,
            WIDTH - RIGHT + 40.0,
            ly + 4.0,
            escape(label)
        ));
    }
    svg.push_str("</svg>\n");
    Some(svg)
}

/// The legend entry of line `row`.
fn legend(svg: &mut String, row: usize, label: &str, color: &str, dash: &str) {
    let ly = TOP + 18.0 * row as f64;
    let lx = WIDTH - RIGHT + 12.0;
    svg.push_str(&format!(
        "<line x1=\"{lx:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
        lx + 22.0,
        lx + 28.0,
        ly + 4.0,
        escape(label)
    ));
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn draws_one_line_per_curve_and_a_point_per_peer() {
        let backends = json!({
            "docker": {
                "scale": {"agent_running_ms": [100.0, 300.0, 900.0], "floor_running_ms": [90.0, 280.0, 800.0]},
                "latency": {"one": {"peer": "compose", "peer_times": {"start": {"median_ms": 700.0}}}},
            },
            "cri": {"error": "runtime up: no"},
        });
        let svg = time_to_running(&backends, "100 pods <test>").unwrap();
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("docker agent") && svg.contains("docker floor"));
        assert!(svg.contains("docker: compose, 1 pod"));
        assert!(svg.contains("&lt;test&gt;"));
        // The slowest point (900 ms) is at the top of the plot area.
        assert!(svg.contains(&format!("{:.1},{:.1}", WIDTH - RIGHT, TOP)));
        assert!(time_to_running(&json!({"cri": {"error": "x"}}), "t").is_none());
    }
}
