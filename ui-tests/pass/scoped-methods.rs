// Methods: `&self`, `&mut self`, `self`, trait impls and trait default methods.
#![deny(warnings)]

use async_scope::{scoped, BoxError};

struct Counter {
    count: u32,
}

impl Counter {
    #[scoped]
    async fn get(&self) -> Result<u32, BoxError> {
        let h = scope.spawn(|_| async { Ok::<_, BoxError>(1) });
        Ok(self.count + h.await?)
    }

    #[scoped(policy = "supervise")]
    pub async fn bump(&mut self) -> Result<&mut Self, BoxError> {
        self.count += 1;
        Ok(self)
    }

    #[scoped]
    async fn into_count(self) -> Result<u32, BoxError> {
        Ok(self.count)
    }
}

trait Load {
    async fn load(&self) -> Result<u32, BoxError>;

    #[scoped(name = "default")]
    async fn load_twice(&self) -> Result<u32, BoxError> {
        Ok(self.load().await? * 2)
    }
}

impl Load for Counter {
    #[scoped]
    async fn load(&self) -> Result<u32, BoxError> {
        let _ = scope.is_cancelled();
        Ok(self.count)
    }
}

fn main() {
    let mut c = Counter { count: 0 };
    let _ = c.get();
    let _ = c.load_twice();
    let _ = c.bump();
    let _ = Counter { count: 1 }.into_count();
}
