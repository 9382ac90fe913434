//! A library with the entry symbol but a descriptor of another ABI major version (written
//! against the raw ABI, as a plugin for a future router would be): the router must refuse it.

use smpp_router_plugin_api::abi::{self, SrpHost, SrpMessage, SrpPlugin, SrpStr};
use std::ffi::c_void;

unsafe extern "C" fn create(
    _host: *const SrpHost,
    _config: SrpStr,
    _out: *mut *mut c_void,
    _error: *mut u8,
    _cap: usize,
    _len: *mut usize,
) -> i32 {
    abi::SRP_ERROR
}
unsafe extern "C" fn submit(_i: *mut c_void, _m: *const SrpMessage, _t: u64) -> i32 {
    abi::SRP_ERROR
}
unsafe extern "C" fn health(_i: *mut c_void) -> i32 {
    abi::SRP_DOWN
}
unsafe extern "C" fn drain(_i: *mut c_void) -> i32 {
    abi::SRP_OK
}
unsafe extern "C" fn destroy(_i: *mut c_void) {}
unsafe extern "C" fn validate(_c: SrpStr, _e: *mut u8, _cap: usize, _len: *mut usize) -> i32 {
    abi::SRP_OK
}

static DESCRIPTOR: SrpPlugin = SrpPlugin {
    struct_size: abi::size_of_u32::<SrpPlugin>(),
    abi_major: abi::ABI_MAJOR + 1,
    abi_minor: 0,
    name: c"wrong-abi".as_ptr(),
    version: c"9.9.9".as_ptr(),
    create,
    submit,
    health,
    drain,
    destroy,
    validate,
    declines: None,
};

/// The entry point, with a descriptor of the wrong major version.
#[unsafe(no_mangle)]
pub extern "C" fn smpp_router_plugin_entry() -> *const SrpPlugin {
    &DESCRIPTOR
}
