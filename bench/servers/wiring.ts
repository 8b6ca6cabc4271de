/**
 * What a peer's hand-written server and its Coda adapter variant differ in:
 * how the after task is wired. `install` runs on the new app before anything
 * else is added to it; `first` runs in the first of the five middlewares.
 */
export interface AfterWiring<App, Context> {
  install?(app: App): void | Promise<void>;
  first?(context: Context): void;
}
