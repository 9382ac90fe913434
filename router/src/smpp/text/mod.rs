//! SMS text encodings (placeholder, being written).
