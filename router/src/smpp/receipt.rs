//! Delivery receipts (placeholder, being written).
