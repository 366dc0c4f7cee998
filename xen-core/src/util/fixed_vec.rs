//! A vector with inline, fixed capacity, for data gathered before the heap
//! exists (the boot description, the allocator's free ranges).

/// An inline vector of at most `N` elements.
#[derive(Clone, Copy, Debug)]
pub struct FixedVec<T: Copy + Default, const N: usize> {
    items: [T; N],
    len: usize,
}

impl<T: Copy + Default, const N: usize> Default for FixedVec<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + Default, const N: usize> FixedVec<T, N> {
    /// An empty vector.
    pub fn new() -> Self {
        FixedVec { items: [T::default(); N], len: 0 }
    }

    /// Appends `item`, or hands it back when the vector is full.
    pub fn push(&mut self, item: T) -> Result<(), T> {
        if self.len == N {
            return Err(item);
        }
        self.items[self.len] = item;
        self.len += 1;
        Ok(())
    }

    /// Removes the element at `index`, shifting the rest down.
    pub fn remove(&mut self, index: usize) -> T {
        let item = self.items[index];
        self.items.copy_within(index + 1..self.len, index);
        self.len -= 1;
        item
    }

    /// Inserts `item` at `index`, shifting the rest up, or hands it back when full.
    pub fn insert(&mut self, index: usize, item: T) -> Result<(), T> {
        if self.len == N {
            return Err(item);
        }
        self.items.copy_within(index..self.len, index + 1);
        self.items[index] = item;
        self.len += 1;
        Ok(())
    }

    /// The elements as a slice.
    pub fn as_slice(&self) -> &[T] {
        &self.items[..self.len]
    }

    /// The elements as a mutable slice.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.items[..self.len]
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::FixedVec;

    #[test]
    fn push_refuses_beyond_capacity_and_insert_remove_keep_order() {
        let mut v: FixedVec<u32, 3> = FixedVec::new();
        assert_eq!(v.push(1), Ok(()));
        assert_eq!(v.push(3), Ok(()));
        assert_eq!(v.insert(1, 2), Ok(()));
        assert_eq!(v.push(4), Err(4));
        assert_eq!(v.as_slice(), &[1, 2, 3]);
        assert_eq!(v.remove(0), 1);
        assert_eq!(v.as_slice(), &[2, 3]);
    }
}
