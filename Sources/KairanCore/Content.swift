/// Rules for what residents write in groups.
public enum Content {
    public static let groupNameMax = 80
    public static let groupDescriptionMax = 2000
    public static let areaMax = 40
    public static let threadTitleMax = 100
    public static let postBodyMax = 5000
    public static let requestMessageMax = 500
    public static let banReasonMax = 500
    public static let searchQueryMin = 2
    public static let searchQueryMax = 100

    /// Trims, then checks length (in code points, as the database counts them) and control characters
    /// (newlines and tabs are fine in long text). Returns the text to store; never truncates.
    public static func text(_ value: String, field: String, min: Int = 1, max: Int, multiline: Bool = false) throws(ValidationError) -> String {
        let trimmed = value.trimmingWhitespace()
        // Code points, as PostgreSQL's char_length counts them: a letter with a thousand
        // combining marks is one character to Swift but must not slip past the column's limit.
        let length = trimmed.unicodeScalars.count
        if length < min {
            throw ValidationError(field: field, code: min <= 1 ? "required" : "too_short",
                                  message: min <= 1 ? "\(field) must not be empty" : "\(field) must be at least \(min) characters",
                                  japanese: min <= 1 ? nil : "\(ErrorText.fieldName(field))は \(min) 文字以上にしてください。")
        }
        if length > max {
            throw ValidationError(field: field, code: "too_long", message: "\(field) must be at most \(max) characters (got \(length))",
                                  japanese: "\(ErrorText.fieldName(field))は \(max) 文字以内にしてください（いま \(length) 文字）。")
        }
        let allowed: Set<Unicode.Scalar> = multiline ? ["\n", "\t", "\r"] : []
        if trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && !allowed.contains($0) }) {
            throw ValidationError(field: field, code: "invalid_characters", message: "\(field) must not contain control characters")
        }
        return trimmed
    }
}
