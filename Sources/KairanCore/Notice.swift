import Foundation

/// School and facility notices to guardians.
public typealias NoticeID = Int64
public typealias NoticeListID = Int64
public typealias AbsenceReportID = Int64

public enum NoticeState: String, Codable, CaseIterable, Sendable {
    /// Waiting in the organization's approval queue.
    case pendingApproval = "pending_approval"
    /// Sent back by an org admin with a comment; delivered only if edited and resubmitted.
    case returned
    /// Approved (or needing no approval); published at its release time.
    case scheduled
    case sent
    case cancelled
}

public enum ReplyFormKind: String, Codable, CaseIterable, Sendable {
    case single
    case multiple
    case text
}

public enum AbsenceKind: String, Codable, CaseIterable, Sendable {
    case absent
    case late
    case earlyLeave = "early_leave"
}

public enum ApprovalAction: String, Codable, CaseIterable, Sendable {
    case submitted, approved, edited, returned, resubmitted, skipped, cancelled
}

/// 静かな時間: normal notices posted inside an organization's quiet hours wait until they end.
public enum QuietHours {
    /// When a normal notice requested for `requested` may go out: `requested` itself, or the
    /// end of the quiet period it falls in. `start`/`end` are minutes after local midnight;
    /// a period may cross midnight (21:00–07:00). Equal or missing ends mean never quiet.
    public static func release(requested: Date, start: Int?, end: Int?, timeZone: TimeZone) -> Date {
        guard let start, let end, start != end else { return requested }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.hour, .minute], from: requested)
        let minute = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
        let quiet = start < end ? (minute >= start && minute < end) : (minute >= start || minute < end)
        guard quiet else { return requested }
        let midnight = calendar.startOfDay(for: requested)
        // Across midnight and still before it: the quiet period ends tomorrow.
        let dayOffset = (start > end && minute >= start) ? 1 : 0
        guard let day = calendar.date(byAdding: .day, value: dayOffset, to: midnight),
              let release = calendar.date(byAdding: .minute, value: end, to: day) else { return requested }
        return release
    }
}
