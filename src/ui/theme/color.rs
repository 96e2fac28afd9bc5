//! Colour depth: what the terminal shows, and the theme degraded to it.

use super::*;

/// How many colours the terminal shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorDepth {
    /// 24-bit: `COLORTERM=truecolor` or `24bit`.
    TrueColor,
    /// The xterm 256-colour palette (`TERM=…256color…`).
    Indexed256,
    /// The 16 ANSI colours.
    Ansi16,
}

impl ColorDepth {
    /// From the environment: only an advertised truecolor terminal gets
    /// 24-bit colour (others would show wrong colours or garbage).
    pub fn detect() -> ColorDepth {
        Self::from_env(
            std::env::var("COLORTERM").ok().as_deref(),
            std::env::var("TERM").ok().as_deref(),
        )
    }

    pub fn from_env(colorterm: Option<&str>, term: Option<&str>) -> ColorDepth {
        let colorterm = colorterm.unwrap_or("").to_ascii_lowercase();
        if colorterm == "truecolor" || colorterm == "24bit" {
            ColorDepth::TrueColor
        } else if term.is_some_and(|t| t.contains("256")) {
            ColorDepth::Indexed256
        } else {
            ColorDepth::Ansi16
        }
    }
}

/// The xterm palette's RGB for an index.
pub(super) fn xterm_rgb(i: u8) -> (u8, u8, u8) {
    match i {
        0..=15 => ANSI16[i as usize].1,
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

/// The 16 ANSI colours with xterm's RGB for them.
pub(super) const ANSI16: [(Color, (u8, u8, u8)); 16] = [
    (Color::Black, (0, 0, 0)),
    (Color::Red, (205, 0, 0)),
    (Color::Green, (0, 205, 0)),
    (Color::Yellow, (205, 205, 0)),
    (Color::Blue, (0, 0, 238)),
    (Color::Magenta, (205, 0, 205)),
    (Color::Cyan, (0, 205, 205)),
    (Color::Gray, (229, 229, 229)),
    (Color::DarkGray, (127, 127, 127)),
    (Color::LightRed, (255, 0, 0)),
    (Color::LightGreen, (0, 255, 0)),
    (Color::LightYellow, (255, 255, 0)),
    (Color::LightBlue, (92, 92, 255)),
    (Color::LightMagenta, (255, 0, 255)),
    (Color::LightCyan, (0, 255, 255)),
    (Color::White, (255, 255, 255)),
];

pub(super) fn dist2(a: (u8, u8, u8), b: (u8, u8, u8)) -> u32 {
    let d = |x: u8, y: u8| (i32::from(x) - i32::from(y)).unsigned_abs();
    d(a.0, b.0).pow(2) + d(a.1, b.1).pow(2) + d(a.2, b.2).pow(2)
}

/// The nearest colour `depth` can show.
pub fn degrade_color(c: Color, depth: ColorDepth) -> Color {
    let rgb = match (c, depth) {
        (_, ColorDepth::TrueColor) => return c,
        (Color::Rgb(r, g, b), _) => (r, g, b),
        (Color::Indexed(i), ColorDepth::Ansi16) if i >= 16 => xterm_rgb(i),
        (Color::Indexed(i), ColorDepth::Ansi16) => return ANSI16[i as usize].0,
        _ => return c,
    };
    match depth {
        ColorDepth::Indexed256 => {
            // Nearest of the 6×6×6 cube and the grey ramp.
            let level = |v: u8| -> u8 {
                const STEPS: [u8; 6] = [0, 95, 135, 175, 215, 255];
                (0..6u8)
                    .min_by_key(|&i| (i32::from(STEPS[i as usize]) - i32::from(v)).abs())
                    .unwrap_or(0)
            };
            let cube = 16 + 36 * level(rgb.0) + 6 * level(rgb.1) + level(rgb.2);
            let avg = ((u16::from(rgb.0) + u16::from(rgb.1) + u16::from(rgb.2)) / 3) as u8;
            let grey = 232 + (avg.saturating_sub(8) / 10).min(23);
            let best = [cube, grey]
                .into_iter()
                .min_by_key(|&i| dist2(xterm_rgb(i), rgb))
                .unwrap_or(cube);
            Color::Indexed(best)
        }
        _ => ANSI16
            .iter()
            .min_by_key(|(_, v)| dist2(*v, rgb))
            .map_or(c, |(c, _)| *c),
    }
}

impl Theme {
    /// The theme in the colours `depth` can show. In 16 colours a
    /// selection whose background fades into black becomes reverse video,
    /// so that it stays visible.
    pub fn with_depth(mut self, depth: ColorDepth) -> Theme {
        if depth == ColorDepth::TrueColor {
            return self;
        }
        self.map_styles(|mut s| {
            s.fg = s.fg.map(|c| degrade_color(c, depth));
            s.bg = s.bg.map(|c| degrade_color(c, depth));
            s
        });
        if matches!(self.selected.bg, Some(Color::Black | Color::Reset))
            || self.selected.bg == self.text.bg && self.selected.bg.is_some()
        {
            self.selected.bg = None;
            self.selected = self.selected.add_modifier(Modifier::REVERSED);
        }
        self
    }
}
