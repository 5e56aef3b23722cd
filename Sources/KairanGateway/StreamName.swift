import KairanCore

/// A stream a client can subscribe to: a group's activity, one thread, one person's
/// notifications, an organization's approval queue (its admins), a class's absence reports
/// (its teachers) or one notice's confirmations (the organization's staff). Written
/// `group:42`, `thread:7`, `user:9`, `org:3`, `class:5`, `notice:11` on the wire and in the
/// event log.
public enum StreamName: Hashable, Sendable, CustomStringConvertible {
    case group(GroupID)
    case thread(ThreadID)
    case user(AccountID)
    case organization(OrganizationID)
    case schoolClass(ClassID)
    case notice(NoticeID)
    /// An alert's progress (town alert staff).
    case alert(Int64)

    public init?(_ text: String) {
        guard text.utf8.count <= 40, let colon = text.firstIndex(of: ":"),
              let id = Int64(text[text.index(after: colon)...]), id > 0 else { return nil }
        switch text[..<colon] {
        case "group": self = .group(id)
        case "thread": self = .thread(id)
        case "user": self = .user(id)
        case "org": self = .organization(id)
        case "class": self = .schoolClass(id)
        case "notice": self = .notice(id)
        case "alert": self = .alert(id)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .group(let id): return "group:\(id)"
        case .thread(let id): return "thread:\(id)"
        case .user(let id): return "user:\(id)"
        case .organization(let id): return "org:\(id)"
        case .schoolClass(let id): return "class:\(id)"
        case .notice(let id): return "notice:\(id)"
        case .alert(let id): return "alert:\(id)"
        }
    }
}
