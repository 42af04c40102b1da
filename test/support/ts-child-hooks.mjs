// Lets a child `node --experimental-transform-types` run kleidi's TypeScript sources directly:
// they import siblings as `./x.js` (NodeNext), which exist only as `./x.ts` before a build.
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (err) {
      if ((specifier.startsWith('.') || specifier.startsWith('#src/')) && specifier.endsWith('.js')) {
        return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
      }
      throw err;
    }
  },
});
