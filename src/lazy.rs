//! A value rendered by the first reader that asks for it, then kept: the views a tick
//! publishes that most ticks nobody requests.

use std::sync::OnceLock;

/// A body rendered on its first request, then kept until its owner is replaced (a tick's
/// `Published`, or the rules engine's configuration).
pub struct Lazy<T> {
    cell: OnceLock<T>,
    render: Box<dyn Fn() -> T + Send + Sync>,
}

impl<T> Lazy<T> {
    pub fn new(render: impl Fn() -> T + Send + Sync + 'static) -> Self {
        Lazy {
            cell: OnceLock::new(),
            render: Box::new(render),
        }
    }

    /// Rendered already (tests and fixed bodies).
    pub fn ready(value: T) -> Self
    where
        T: Default + 'static,
    {
        Lazy {
            cell: OnceLock::from(value),
            // Never called: the cell is set.
            render: Box::new(T::default),
        }
    }

    pub fn get(&self) -> &T {
        self.cell.get_or_init(|| (self.render)())
    }

    /// Whether a request has rendered it this tick.
    pub fn is_rendered(&self) -> bool {
        self.cell.get().is_some()
    }
}

impl<T: Default + 'static> Default for Lazy<T> {
    fn default() -> Self {
        Lazy::ready(T::default())
    }
}

impl<T> std::fmt::Debug for Lazy<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.is_rendered() {
            "rendered"
        } else {
            "not rendered"
        };
        f.write_str(state)
    }
}
