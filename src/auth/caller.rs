//! Who is calling: the signed-in user, and how they proved it.

use super::jwt::Claims;
use crate::db::users::UserRow;

#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserRow,
    pub via_api_key: bool,
    pub claims: Option<Claims>,
    /// The credential as presented (JWT or API key).
    pub token: String,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.user.role == "admin"
    }
    pub fn id(&self) -> &str {
        &self.user.id
    }
}
