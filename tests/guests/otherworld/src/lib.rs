//! `otherworld`: a component of the world `test:other/other`, not
//! `savepoint:node`. The host must refuse it as a plugin that does not
//! implement `savepoint:node`. Built with `wit-bindgen` directly.

wit_bindgen::generate!({
    path: "wit",
    world: "other",
});

struct Other;

impl Guest for Other {
    fn hello() -> String {
        "hello from another world".to_owned()
    }
}

export!(Other);
