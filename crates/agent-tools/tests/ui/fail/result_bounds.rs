//! Results that cannot be given to the model: the compiler's errors point at the return type.

use minimalagent::tool;

struct Weather;

struct WeatherError;

/// Gets the weather.
#[tool]
fn get_weather() -> Weather {
    Weather
}

/// Gets the forecast.
#[tool]
fn get_forecast() -> Result<String, WeatherError> {
    Err(WeatherError)
}

fn main() {}
