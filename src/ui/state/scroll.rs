//! Selections and scroll windows: by stable id in the group and latest
//! lists, anchored to a seq in the streams.

use crate::ui::index::SeqList;

/// A selection in a list whose rows have stable ids (groups, latest).
#[derive(Clone, Copy, Debug, Default)]
pub struct ListSel {
    pub id: Option<u32>,
    pub pos: usize,
    pub offset: usize,
    /// Whether the user has moved it. Until then it stays on the first row
    /// (and the list at its top) as rows arrive above the one first seen.
    pub moved: bool,
}

impl ListSel {
    pub(in crate::ui) fn set(&mut self, pos: usize, len: usize, id_at: impl Fn(usize) -> u32) {
        if len == 0 {
            *self = ListSel::default();
            return;
        }
        self.pos = pos.min(len - 1);
        self.id = Some(id_at(self.pos));
        self.moved = true;
    }

    pub(in crate::ui) fn move_by(&mut self, delta: i64, len: usize, id_at: impl Fn(usize) -> u32) {
        let pos = (self.pos as i64 + delta).clamp(0, len.saturating_sub(1) as i64) as usize;
        self.set(pos, len, id_at);
    }

    /// After a rebuild: follow the selected id, else stay at the position.
    pub(in crate::ui) fn refind(&mut self, ids: &[u32]) {
        if ids.is_empty() {
            self.pos = 0;
            self.id = None;
            return;
        }
        if !self.moved {
            self.pos = 0;
            self.id = Some(ids[0]);
            return;
        }
        if let Some(id) = self.id
            && let Some(p) = ids.iter().position(|&x| x == id)
        {
            self.pos = p;
            return;
        }
        self.pos = self.pos.min(ids.len() - 1);
        self.id = Some(ids[self.pos]);
    }

    /// The first visible row for a window of `height`, keeping the
    /// selection visible.
    pub fn window(&mut self, len: usize, height: usize) -> usize {
        if height == 0 || len == 0 {
            self.offset = 0;
            return 0;
        }
        self.pos = self.pos.min(len - 1);
        if self.pos < self.offset {
            self.offset = self.pos;
        } else if self.pos >= self.offset + height {
            self.offset = self.pos + 1 - height;
        }
        self.offset = self.offset.min(len.saturating_sub(height));
        self.offset
    }
}

/// A selection in a newest-first stream, anchored by seq so that the
/// window does not move when new rows arrive unless it follows the head.
#[derive(Clone, Copy, Debug)]
pub struct Anchored {
    pub follow: bool,
    pub seq: u64,
    pub top: u64,
}

impl Default for Anchored {
    fn default() -> Self {
        Anchored {
            follow: true,
            seq: 0,
            top: 0,
        }
    }
}

impl Anchored {
    /// Position (0 = newest) of the selection among the first `upto`
    /// entries of `l` (ascending).
    pub fn pos(&self, l: &dyn SeqList, upto: usize) -> Option<usize> {
        if upto == 0 {
            return None;
        }
        if self.follow {
            return Some(0);
        }
        let c = l.count_le(self.seq).min(upto);
        Some(if c == 0 { upto - 1 } else { upto - c })
    }

    pub(in crate::ui) fn set_pos(&mut self, l: &dyn SeqList, upto: usize, pos: usize) {
        if upto == 0 {
            *self = Anchored::default();
            return;
        }
        let pos = pos.min(upto - 1);
        self.follow = pos == 0;
        self.seq = l.seq_at(upto - 1 - pos);
    }

    pub(in crate::ui) fn move_by(&mut self, l: &dyn SeqList, upto: usize, delta: i64) {
        if let Some(p) = self.pos(l, upto) {
            let np = (p as i64 + delta).clamp(0, upto as i64 - 1) as usize;
            self.set_pos(l, upto, np);
        }
    }

    /// `(top, selected)` positions for a window of `height`.
    pub fn window(
        &mut self,
        l: &dyn SeqList,
        upto: usize,
        height: usize,
    ) -> Option<(usize, usize)> {
        let sel = self.pos(l, upto)?;
        if height == 0 {
            return None;
        }
        let mut top = if self.follow {
            0
        } else {
            let c = l.count_le(self.top).min(upto);
            if c == 0 { upto - 1 } else { upto - c }
        };
        if sel < top {
            top = sel;
        } else if sel >= top + height {
            top = sel + 1 - height;
        }
        top = top.min(upto.saturating_sub(height));
        self.top = l.seq_at(upto - 1 - top);
        Some((top, sel))
    }
}
