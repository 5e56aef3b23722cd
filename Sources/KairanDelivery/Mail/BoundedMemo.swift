import Synchronization

/// The last few values computed for their keys, for work that is the same for thousands of
/// messages in a row (an alert's From and Subject, its encoded text). The computation is
/// pure, so a hit is the same value; the memo is dropped wholesale when full (a worker sends
/// a handful of messages at a time).
final class BoundedMemo<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let entries = Mutex<[Key: Value]>([:])
    private let capacity: Int

    init(capacity: Int = 64) { self.capacity = capacity }

    /// `keep`: whether this value may stand for the key's next lookups (a result that only a
    /// passing condition produced, such as a fallback, is returned but not remembered).
    func value(for key: Key, keep: (Value) -> Bool = { _ in true }, compute: () -> Value) -> Value {
        if let hit = entries.withLock({ $0[key] }) { return hit }
        let value = compute()
        guard keep(value) else { return value }
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = value
        }
        return value
    }
}
