//! Multi-producer multi-consumer FIFO queues shared by every interpreter.
//!
//! [`Queue`] blocks with exact, side-effect-free timeouts and can be closed; callers share it
//! as `Arc<Queue<T>>`. Readiness callbacks ([`Queue::subscribe`], [`Queue::subscribe_space`])
//! let the glue wake an asyncio loop, and [`wait_any`] waits on several queues at once.

mod error;
mod mpmc;
mod subscribers;
mod wait_any;

pub use error::{GetError, PutError};
pub use mpmc::Queue;
pub use subscribers::{Callback, SubscriptionId};
pub use wait_any::wait_any;
