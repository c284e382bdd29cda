public import PQ

/// The API and the worker must run as roles that row-level security binds (SPEC §9): not a
/// superuser, not BYPASSRLS, and owning no table (forced RLS binds owners too, but an owner
/// could switch it off). Only `tollgate dev` may skip this.
public enum RoleCheck {
    /// nil when the connected role is unprivileged, else what is wrong with it.
    public static func privilegeProblem(pool: PQPool) async throws -> String? {
        let rows = try await pool.query(
            "role.check",
            """
            SELECT r.rolname, r.rolsuper, r.rolbypassrls,
                   EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                           WHERE n.nspname = 'public' AND c.relkind = 'r' AND pg_has_role(current_user, c.relowner, 'USAGE')) AS owns_tables
            FROM pg_roles r WHERE r.rolname = current_user
            """
        )
        guard let row = rows.first else { return "cannot read the connected role" }
        let name: String = try row.decode("rolname")
        if try row.decode("rolsuper", as: Bool.self) { return "the database role \(name) is a superuser" }
        if try row.decode("rolbypassrls", as: Bool.self) { return "the database role \(name) bypasses row-level security" }
        if try row.decode("owns_tables", as: Bool.self) { return "the database role \(name) owns Tollgate's tables" }
        return nil
    }
}
