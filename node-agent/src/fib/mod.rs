//! The kernel FIB writer: installs Loc-RIB routes with rtnetlink.
