import Foundation

/// The per-recipient fields of a delivery status notification (RFC 3464) that matter to us.
struct DeliveryStatusReport: Equatable, Sendable {
    let action: String
    let status: String
    let diagnostic: String?

    /// A hard bounce: the reporting server gave up for good.
    var permanent: Bool { action.lowercased() == "failed" && status.hasPrefix("5") }

    /// Reads the first recipient's fields of a `message/delivery-status` part. Nil when the
    /// message is not a DSN (an auto-reply, a carrier's free-text notice).
    static func parse(_ message: String) -> DeliveryStatusReport? {
        guard message.range(of: "message/delivery-status", options: .caseInsensitive) != nil else { return nil }
        var action: String?, status: String?, diagnostic: String?
        var sawRecipient = false
        for line in unfolded(message) {
            let lower = line.lowercased()
            if lower.hasPrefix("final-recipient:") || lower.hasPrefix("original-recipient:") { sawRecipient = true; continue }
            guard sawRecipient else { continue }
            if action == nil, lower.hasPrefix("action:") { action = value(line) }
            if status == nil, lower.hasPrefix("status:") {
                let text = value(line)
                if isStatusCode(text) { status = text }
            }
            if diagnostic == nil, lower.hasPrefix("diagnostic-code:") { diagnostic = String(value(line).prefix(300)) }
            if action != nil && status != nil && diagnostic != nil { break }
        }
        guard let action, let status else { return nil }
        return DeliveryStatusReport(action: action, status: status, diagnostic: diagnostic)
    }

    private static func value(_ line: String) -> String {
        guard let colon = line.firstIndex(of: ":") else { return "" }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }

    /// `class.subject.detail`, e.g. 5.1.1.
    private static func isStatusCode(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, ["2", "4", "5"].contains(parts[0]) else { return false }
        return parts.dropFirst().allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isNumber) }
    }

    private static func unfolded(_ message: String) -> [String] {
        var lines: [String] = []
        // "\r\n" is one Character in Swift: split on scalars, not Characters.
        for raw in message.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = String(String.UnicodeScalarView(raw))
            if line.hasSuffix("\r") { line.removeLast() }
            if let first = line.first, first == " " || first == "\t", !lines.isEmpty {
                lines[lines.count - 1] += " " + line.trimmingCharacters(in: .whitespaces)
            } else {
                lines.append(line)
            }
        }
        return lines
    }
}
