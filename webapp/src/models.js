// The configured models (GET /api/v1/models), fetched once per page load.
import { api } from './api.js';

let pending = null;
export function loadModels() {
  if (!pending) {
    pending = api('GET', '/api/v1/models')
      .then((r) => r.data)
      .catch((e) => {
        pending = null; // try again next time
        throw e;
      });
  }
  return pending;
}
