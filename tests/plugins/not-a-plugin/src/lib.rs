//! A shared library without the plugin entry symbol: the router must refuse to load it.

/// Something exported, but not what a plugin exports.
#[unsafe(no_mangle)]
pub extern "C" fn hello() -> i32 {
    42
}
