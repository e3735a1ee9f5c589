// Reading and writing one field of a locked value, so a property over it is one line.
import Synchronization

extension PosixMutex {
    /// The field at `field` of the guarded value, read or written under the lock.
    subscript<Field>(_ field: WritableKeyPath<Value, Field>) -> Field {
        get { withLock { $0[keyPath: field] } }
        set { withLock { $0[keyPath: field] = newValue } }
    }
}

extension Mutex {
    /// The field at `field` of the guarded value, read or written under the lock.
    subscript<Field: Sendable>(_ field: any WritableKeyPath<Value, Field> & Sendable) -> Field {
        get { withLock { $0[keyPath: field] } }
        nonmutating set { withLock { $0[keyPath: field] = newValue } }
    }
}
