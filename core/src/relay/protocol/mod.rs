//! Wire knowledge of each client protocol (temporary minimal form; the full module replaces it).

/// The inbound API a client called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// OpenAI Responses.
    Responses,
    /// OpenAI Chat Completions.
    Chat,
    /// OpenAI Embeddings.
    Embeddings,
    /// Anthropic Messages.
    Messages,
    /// Gemini native.
    Gemini,
}
