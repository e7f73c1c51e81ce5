//! WebAssembly bindings of meshbundle-core.
