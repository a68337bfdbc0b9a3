//! Gathering an upstream body's chunks into one: the common single-chunk answer is kept as it
//! arrived (no allocation, no copy); only a second chunk starts a buffer.

use bytes::{Bytes, BytesMut};

/// Chunks gathered so far.
#[derive(Debug, Default)]
pub(super) enum Gathered {
    /// Nothing yet.
    #[default]
    Empty,
    /// One chunk, as the upstream read delivered it.
    One(Bytes),
    /// Several chunks, copied together.
    Many(BytesMut),
}

impl Gathered {
    /// Bytes gathered so far.
    pub(super) fn len(&self) -> usize {
        match self {
            Self::Empty => 0,
            Self::One(chunk) => chunk.len(),
            Self::Many(buffer) => buffer.len(),
        }
    }

    /// Adds the next chunk.
    pub(super) fn push(&mut self, chunk: Bytes) {
        *self = match std::mem::take(self) {
            Self::Empty => Self::One(chunk),
            Self::One(first) => {
                let mut buffer = BytesMut::with_capacity(first.len() + chunk.len());
                buffer.extend_from_slice(&first);
                buffer.extend_from_slice(&chunk);
                Self::Many(buffer)
            }
            Self::Many(mut buffer) => {
                buffer.extend_from_slice(&chunk);
                Self::Many(buffer)
            }
        };
    }

    /// Everything gathered, as one buffer.
    pub(super) fn into_bytes(self) -> Bytes {
        match self {
            Self::Empty => Bytes::new(),
            Self::One(chunk) => chunk,
            Self::Many(buffer) => buffer.freeze(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_chunk_is_kept_without_a_copy() {
        let chunk = Bytes::from_static(b"{\"usage\":{}}");
        let mut gathered = Gathered::default();
        gathered.push(chunk.clone());
        assert_eq!(gathered.len(), chunk.len());
        let out = gathered.into_bytes();
        assert_eq!(out.as_ptr(), chunk.as_ptr(), "the same buffer, not a copy");
    }

    #[test]
    fn several_chunks_are_joined_in_order() {
        let mut gathered = Gathered::default();
        assert_eq!(gathered.len(), 0);
        for part in ["data: a\n", "\n", "data: b\n\n"] {
            gathered.push(Bytes::from(part));
        }
        assert_eq!(gathered.len(), 18);
        assert_eq!(gathered.into_bytes(), "data: a\n\ndata: b\n\n");
        assert!(Gathered::default().into_bytes().is_empty());
    }
}
