// Express 4, installed beside Express 5 as `express4` (npm:express@^4), typed
// as Express 5 (@types/express): the API the tests use is the same in both.
declare module 'express4' {
  import express from 'express';
  export default express;
}
