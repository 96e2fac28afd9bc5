//! Renders real frames of the TUI — the real `App` on ratatui's TestBackend,
//! fed by the demo traffic generator — into SVG files, one per scene.
//! `screenshots/render.sh` turns them into the PNGs shown in the README.
//!
//!     cargo run --example screenshots -- screenshots/

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use sinkwatch::client::demo::DemoWorld;
use sinkwatch::model::StoreLimits;
use sinkwatch::ui::harness::{Harness, forwarding, two_upstreams};
use sinkwatch::ui::state::SourceInfo;
use sinkwatch::ui::theme::Theme;

const W: u16 = 160;
const H: u16 = 45;
const CELL_W: f64 = 8.43;
const CELL_H: f64 = 17.0;
const FONT: f64 = 14.0;

fn xterm(i: u8) -> (u8, u8, u8) {
    const BASE: [(u8, u8, u8); 16] = [
        (0, 0, 0),
        (205, 0, 0),
        (0, 205, 0),
        (205, 205, 0),
        (0, 0, 238),
        (205, 0, 205),
        (0, 205, 205),
        (229, 229, 229),
        (127, 127, 127),
        (255, 0, 0),
        (0, 255, 0),
        (255, 255, 0),
        (92, 92, 255),
        (255, 0, 255),
        (0, 255, 255),
        (255, 255, 255),
    ];
    match i {
        0..=15 => BASE[i as usize],
        16..=231 => {
            let i = i - 16;
            let c = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            (c(i / 36), c((i / 6) % 6), c(i % 6))
        }
        _ => {
            let v = 8 + (i - 232) * 10;
            (v, v, v)
        }
    }
}

fn hex(c: Color, default: &str) -> String {
    let rgb = match c {
        Color::Reset => return default.to_owned(),
        Color::Black => xterm(0),
        Color::Red => xterm(1),
        Color::Green => xterm(2),
        Color::Yellow => xterm(3),
        Color::Blue => xterm(4),
        Color::Magenta => xterm(5),
        Color::Cyan => xterm(6),
        Color::Gray => xterm(7),
        Color::DarkGray => xterm(8),
        Color::LightRed => xterm(9),
        Color::LightGreen => xterm(10),
        Color::LightYellow => xterm(11),
        Color::LightBlue => xterm(12),
        Color::LightMagenta => xterm(13),
        Color::LightCyan => xterm(14),
        Color::White => xterm(15),
        Color::Indexed(i) => xterm(i),
        Color::Rgb(r, g, b) => (r, g, b),
    };
    format!("#{:02x}{:02x}{:02x}", rgb.0, rgb.1, rgb.2)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A buffer as SVG: one background rect and one text run per cell style run.
fn svg(buf: &Buffer, bg_default: &str, fg_default: &str) -> String {
    let (w, h) = (buf.area.width, buf.area.height);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns='http://www.w3.org/2000/svg' width='{:.0}' height='{:.0}' \
         font-family='DejaVu Sans Mono, monospace' font-size='{FONT}'>\
         <rect width='100%' height='100%' fill='{bg_default}'/>",
        f64::from(w) * CELL_W + 16.0,
        f64::from(h) * CELL_H + 16.0
    );
    for y in 0..h {
        let mut x = 0;
        while x < w {
            let cell = &buf[(x, y)];
            let style = (cell.fg, cell.bg, cell.modifier);
            let start = x;
            let mut text = String::new();
            while x < w {
                let c = &buf[(x, y)];
                if (c.fg, c.bg, c.modifier) != style {
                    break;
                }
                text.push_str(c.symbol());
                x += 1;
            }
            let reversed = style.2.contains(Modifier::REVERSED);
            let (mut fg, mut bg) = (hex(style.0, fg_default), hex(style.1, bg_default));
            if reversed {
                std::mem::swap(&mut fg, &mut bg);
            }
            let px = 8.0 + f64::from(start) * CELL_W;
            let py = 8.0 + f64::from(y) * CELL_H;
            if bg != bg_default {
                let _ = write!(
                    out,
                    "<rect x='{px:.2}' y='{py:.2}' width='{:.2}' height='{CELL_H}' fill='{bg}'/>",
                    f64::from(x - start) * CELL_W
                );
            }
            if text.trim().is_empty() {
                continue;
            }
            let mut attrs = String::new();
            if style.2.contains(Modifier::BOLD) {
                attrs.push_str(" font-weight='bold'");
            }
            if style.2.contains(Modifier::ITALIC) {
                attrs.push_str(" font-style='italic'");
            }
            if style.2.contains(Modifier::UNDERLINED) {
                attrs.push_str(" text-decoration='underline'");
            }
            if style.2.contains(Modifier::DIM) {
                attrs.push_str(" opacity='0.6'");
            }
            let _ = write!(
                out,
                "<text x='{px:.2}' y='{:.2}' fill='{fg}' xml:space='preserve' textLength='{:.2}' \
                 lengthAdjust='spacingAndGlyphs'{attrs}>{}</text>",
                py + CELL_H * 0.78,
                f64::from(x - start) * CELL_W,
                esc(&text)
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

fn harness(theme: &str) -> Harness {
    let theme = Theme::load(theme, None).expect("built-in theme");
    let mut h = Harness::new(
        W,
        H,
        theme,
        SourceInfo::live("127.0.0.1:50051"),
        StoreLimits::default(),
    );
    // Two full scans of the demo world, spread over a few minutes, so there
    // are regressions and fixes to show.
    let mut world = DemoWorld::new(7);
    let n = world.key_count() * 3;
    h.ingest_demo(&mut world, n, 150);
    // The sender we "just" used from another terminal.
    h.ingest("ossf", "allstar", "Branch Protection", true, "");
    h.advance(2_000);
    h.ingest(
        "ossf",
        "allstar",
        "Branch Protection",
        false,
        "No protection found for branch main\n\n**Remediation**\n- Open the repository settings, then **Branches**\n- Add a rule for `main` with *Require a pull request before merging*\n- See [managing a branch protection rule](https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/managing-protected-branches/managing-a-branch-protection-rule)\n",
    );
    h.advance(500);
    h
}

fn save(dir: &Path, name: &str, h: &mut Harness, bg: &str, fg: &str) {
    let buf = h.draw().clone();
    let path: PathBuf = dir.join(format!("{name}.svg"));
    std::fs::write(&path, svg(&buf, bg, fg)).expect("write svg");
    eprintln!("wrote {}", path.display());
}

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "screenshots".into()),
    );
    std::fs::create_dir_all(&dir).expect("create output dir");
    let (dark_bg, dark_fg) = ("#14161b", "#d4d4d4");
    let (light_bg, light_fg) = ("#fbfbf8", "#202020");

    let mut h = harness("dark");
    save(&dir, "live-dark", &mut h, dark_bg, dark_fg);

    let mut h = harness("light");
    save(&dir, "live-light", &mut h, light_bg, light_fg);

    // A failing check's details: the latest-status view, failing first.
    // (A frame between: keys act on the list as shown.) Row 3 is a
    // Scorecard failure, whose details hold a table.
    let mut h = harness("dark");
    h.press("v");
    h.draw();
    h.press("j j");
    save(&dir, "failing-details", &mut h, dark_bg, dark_fg);

    // A filter narrowing every pane.
    let mut h = harness("dark");
    h.press("/");
    h.type_text("org:ossf status:fail");
    h.press("Enter");
    save(&dir, "filter", &mut h, dark_bg, dark_fg);

    let mut h = harness("dark");
    h.press("?");
    save(&dir, "help", &mut h, dark_bg, dark_fg);

    let mut h = harness("high-contrast");
    save(&dir, "live-high-contrast", &mut h, "#000000", "#ffffff");

    // Forwarding to two upstreams, one of them down: the panel (F) in the
    // place of Transitions, and the selected alert's outcome per upstream.
    let h0 = harness("dark");
    let accepted = h0.hub.read(|s| s.next_seq()).saturating_sub(1);
    let mut h = h0.with_forward(forwarding(two_upstreams(accepted)));
    h.press("F");
    save(&dir, "forwarding", &mut h, dark_bg, dark_fg);

    // The key timeline (`t`): a check that flaps over an hour, its details
    // changing between failures (the demo's Branch Protection texts).
    let mut h = harness("dark");
    let key = ("ossf", "allstar", "Branch Protection");
    for (pass, variant) in [
        (true, 0),
        (false, 1),
        (false, 1),
        (false, 2),
        (true, 0),
        (true, 0),
        (false, 2),
        (true, 0),
        (false, 0),
        (false, 1),
    ] {
        h.advance(6 * 60_000);
        let details = if pass {
            String::new()
        } else {
            sinkwatch::client::demo::details_for(key.2, key.1, variant)
        };
        h.ingest(key.0, key.1, key.2, pass, &details);
    }
    h.press("g");
    h.draw();
    h.press("t");
    save(&dir, "timeline", &mut h, dark_bg, dark_fg);

    // A silence typed as a user would (`x`, `e`: an expression), its
    // failures dimmed and counted apart; then the list of silences (`X`).
    let mut h = harness("dark");
    h.press("x e");
    h.type_text("policy:CODEOWNERS");
    h.press("Tab Tab");
    h.type_text("fix scheduled for Friday");
    h.draw();
    h.press("Enter");
    h.draw();
    h.press("v");
    save(&dir, "silenced", &mut h, dark_bg, dark_fg);
    h.press("X");
    save(&dir, "silences", &mut h, dark_bg, dark_fg);

    // The rollout screen (r) after 50 minutes of demo traffic: campaigns
    // fixing a policy repo by repo, an org regressing Branch Protection.
    let mut h = harness("dark");
    let mut world = DemoWorld::new(7);
    let n = world.key_count() * 50;
    h.ingest_demo(&mut world, n, 150);
    h.press("r");
    while h.app.scanning() {
        h.draw();
    }
    save(&dir, "rollout", &mut h, dark_bg, dark_fg);
}
