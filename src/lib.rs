//! Retort
