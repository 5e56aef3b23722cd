/// Secrets generated once per database (migrations insert them), shared by every instance.
public enum ServerSecretStore {
    /// The key of the web pages' form tokens.
    public static func webForms(on db: DatabaseConnection) async throws -> String {
        for try await value in try await db.query("SELECT value FROM server_secrets WHERE name = 'web_forms'").decode(String.self) {
            return value
        }
        preconditionFailure("migration 0016 inserts the web form key")
    }
}
