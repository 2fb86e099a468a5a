//! tidewater-engine
