//! Opening plugin libraries and checking their ABI.
//!
//! The router never opens the operator's file itself: it opens a private copy of each build,
//! named by the digest of its content, in the plugin directory ([`set_copy_dir`]: `data_dir/plugins`
//! for the router). So a library rebuilt or copied over the installed file cannot change code the
//! router is running (overwriting a loaded library in place crashes a process that has it
//! mapped), and the new build is what the next reload of its channel loads.
//!
//! A library, once opened, stays loaded for the life of the process: instances made from it may
//! still be finishing calls after a reload replaced them, and unloading code that another thread
//! may run is undefined behaviour. The same build (the same content) is opened once.

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
    /// A copy of the checked descriptor (its functions and strings live in the library, which
    /// is never unloaded).
    pub descriptor: SrpPlugin,
    _lib: libloading::Library,
}

/// The builds opened so far, by the digest of their content.
static LOADED: LazyLock<Mutex<HashMap<String, Arc<Library>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Where `check` and `explain`, which start no router, put their copies: a directory under the
/// system's temporary one.
pub(super) fn scratch_copy_dir() -> PathBuf {
    std::env::temp_dir().join(format!("smpp-router-plugins-{}", std::process::id()))
}

/// The hex digest of a build, which names its copy.
fn digest(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A private copy of the build in `bytes` (from `original`), written once: to a temporary name,
/// then renamed, so that a copy is never seen half written.
fn private_copy(
    original: &Path,
    bytes: &[u8],
    digest: &str,
    dir: &Path,
) -> Result<PathBuf, String> {
    let dir = dir.to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| {
        format!(
            "cannot create the plugin copy directory {}: {e}",
            dir.display()
        )
    })?;
    let stem = original
        .file_stem()
        .map_or("plugin".into(), |s| s.to_string_lossy());
    let ext = original
        .extension()
        .map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
    let copy = dir.join(format!("{stem}-{digest}{ext}"));
    if !copy.exists() {
        let partial = dir.join(format!(".{stem}-{digest}.{}", std::process::id()));
        std::fs::write(&partial, bytes)
            .and_then(|()| std::fs::rename(&partial, &copy))
            .map_err(|e| format!("cannot copy the library to {}: {e}", copy.display()))?;
    }
    Ok(copy)
}

/// Opens the build at `path` (or returns the library already opened from the same build) and
/// checks its ABI. The error names the file and the reason.
pub fn open(path: &Path, copy_dir: &Path) -> Result<Arc<Library>, String> {
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
    let bytes =
        std::fs::read(&canonical).map_err(|e| format!("plugin {shown}: cannot read: {e}"))?;
    let build = digest(&bytes);
    let mut loaded = LOADED
        .lock()
        .map_err(|_| "plugin registry poisoned".to_string())?;
    if let Some(lib) = loaded.get(&build) {
        return Ok(lib.clone());
    }
    let copy = private_copy(&canonical, &bytes, &build, copy_dir)
        .map_err(|e| format!("plugin {shown}: {e}"))?;
    drop(bytes);
    // SAFETY: opening a library runs its initialisers; a plugin is code the operator chose to
    // run in the router, like the router itself.
    let lib = unsafe { libloading::Library::new(&copy) }
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
    tracing::info!(path = %canonical.display(), copy = %copy.display(), plugin = %library.name, version = %library.version, abi = %format!("{}.{}", library.abi.0, library.abi.1), "plugin library loaded");
    loaded.insert(build, library.clone());
    Ok(library)
}
