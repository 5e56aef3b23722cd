import KairanCore

/// A stream a client can subscribe to: a group's activity, one thread, or one person's
/// notifications. Written `group:42`, `thread:7`, `user:9` on the wire and in the event log.
public enum StreamName: Hashable, Sendable, CustomStringConvertible {
    case group(GroupID)
    case thread(ThreadID)
    case user(AccountID)

    public init?(_ text: String) {
        guard text.utf8.count <= 40, let colon = text.firstIndex(of: ":"),
              let id = Int64(text[text.index(after: colon)...]), id > 0 else { return nil }
        switch text[..<colon] {
        case "group": self = .group(id)
        case "thread": self = .thread(id)
        case "user": self = .user(id)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .group(let id): return "group:\(id)"
        case .thread(let id): return "thread:\(id)"
        case .user(let id): return "user:\(id)"
        }
    }
}
