//! Opening plugin libraries and checking their ABI.
//!
//! A library, once opened, stays loaded for the life of the process: instances made from it may
//! still be finishing calls after a reload replaced them, and unloading code that another thread
//! may run is undefined behaviour. Opening the same path again returns the same library, so a
//! changed plugin must be installed under a new path (for example with its version in the file
//! name) and `routes.toml` pointed at it.

use std::collections::HashMap;
use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use smpp_router_plugin_api::abi::{self, EntryFn, SrpPlugin};

/// An opened plugin library with a checked descriptor.
pub struct Library {
    /// The plugin's name and version from its descriptor.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// The plugin's ABI version.
    pub abi: (u16, u16),
    /// The checked descriptor (static in the library, which is never unloaded).
    pub descriptor: &'static SrpPlugin,
    _lib: libloading::Library,
}

static LOADED: LazyLock<Mutex<HashMap<PathBuf, Arc<Library>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Opens `path` (or returns the library already opened from it) and checks its ABI. The error
/// names the file and the reason.
pub fn open(path: &Path) -> Result<Arc<Library>, String> {
    let shown = path.display();
    let canonical = path.canonicalize().map_err(|e| {
        let cwd = std::env::current_dir().unwrap_or_default();
        if path.is_relative() {
            format!(
                "plugin {shown}: {e} (a relative path is looked up from the working directory, {})",
                cwd.display()
            )
        } else {
            format!("plugin {shown}: {e}")
        }
    })?;
    let mut loaded = LOADED
        .lock()
        .map_err(|_| "plugin registry poisoned".to_string())?;
    if let Some(lib) = loaded.get(&canonical) {
        return Ok(lib.clone());
    }
    // SAFETY: opening a library runs its initialisers; a plugin is code the operator chose to
    // run in the router, like the router itself.
    let lib = unsafe { libloading::Library::new(&canonical) }
        .map_err(|e| format!("plugin {shown}: cannot open: {e}"))?;
    // SAFETY: the symbol's type is fixed by the ABI.
    let entry: EntryFn = unsafe {
        *lib.get::<EntryFn>(abi::ENTRY_SYMBOL).map_err(|_| {
            format!(
                "plugin {shown}: no `smpp_router_plugin_entry` symbol; not an smpp-router plugin (build it with smpp_router_plugin_api::export_plugin!)"
            )
        })?
    };
    // SAFETY: the entry function takes nothing and returns its static descriptor; the ABI check
    // reads only the version fields before trusting the rest.
    let descriptor =
        unsafe { abi::check_descriptor(entry()) }.map_err(|e| format!("plugin {shown}: {e}"))?;
    // SAFETY: the descriptor's strings are static NUL-terminated UTF-8 (ABI contract); a null
    // pointer reads as empty.
    let text = |p: *const std::ffi::c_char| {
        if p.is_null() {
            String::new()
        } else {
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    let library = Arc::new(Library {
        name: text(descriptor.name),
        version: text(descriptor.version),
        abi: (descriptor.abi_major, descriptor.abi_minor),
        descriptor,
        _lib: lib,
    });
    tracing::info!(path = %canonical.display(), plugin = %library.name, version = %library.version, abi = %format!("{}.{}", library.abi.0, library.abi.1), "plugin library loaded");
    loaded.insert(canonical, library.clone());
    Ok(library)
}
