//! tidewater-spec
